"""Writes of the queryable log copy: batches from `flowmatik.logstore`, pruning."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from dashboard.models import LogRecord

_STANDARD = {"timestamp", "level", "service", "message", "userId", "requestId"}


def _row(entry: dict[str, Any]) -> LogRecord:
    stamp = entry.get("timestamp") or ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now(tz=UTC)
    return LogRecord(
        timestamp=moment,
        level=str(entry.get("level") or "")[:10],
        service=str(entry.get("service") or "")[:100],
        message=str(entry.get("message") or "")[: settings.LOG_STORE_MAX_MESSAGE_CHARS],
        user_id=str(entry.get("userId") or "")[:64],
        request_id=str(entry.get("requestId") or "")[:128],
        data={key: value for key, value in entry.items() if key not in _STANDARD},
    )


def log_records_store(*, entries: list[dict[str, Any]]) -> int:
    """Insert a batch of JSON log entries (already redacted by the formatter)."""
    rows = [_row(entry) for entry in entries]
    LogRecord.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def log_records_prune() -> int:
    """Drop rows past the retention time and beyond the row cap; returns how many."""
    horizon = timezone.now() - timedelta(hours=settings.LOG_STORE_RETENTION_HOURS)
    deleted, _ = LogRecord.objects.filter(timestamp__lt=horizon).delete()
    cutoff = (
        LogRecord.objects.order_by("-id")
        .values_list("id", flat=True)[
            settings.LOG_STORE_MAX_ROWS : settings.LOG_STORE_MAX_ROWS + 1
        ]
        .first()
    )
    if cutoff is not None:
        extra, _ = LogRecord.objects.filter(id__lte=cutoff).delete()
        deleted += extra
    return deleted
