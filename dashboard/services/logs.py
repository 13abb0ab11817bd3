"""Writes of the queryable log copy: batches from `flowmatik.logstore`, pruning."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils import timezone

from dashboard.models import LogRecord

_STANDARD = {"timestamp", "level", "service", "message", "userId", "requestId"}


_COLUMNS = ("timestamp", "level", "service", "message", "user_id", "request_id", "data")


def _row(entry: dict[str, Any], ops: BaseDatabaseOperations) -> tuple[Any, ...]:
    """One entry as the values of `_COLUMNS`, adapted for the database (`ops`)."""
    stamp = entry.get("timestamp") or ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now(tz=UTC)
    return (
        ops.adapt_datetimefield_value(moment),
        str(entry.get("level") or "")[:10],
        str(entry.get("service") or "")[:100],
        str(entry.get("message") or "")[: settings.LOG_STORE_MAX_MESSAGE_CHARS],
        str(entry.get("userId") or "")[:64],
        str(entry.get("requestId") or "")[:128],
        ops.adapt_json_value(
            {key: value for key, value in entry.items() if key not in _STANDARD},
            None,
        ),
    )


def _column(name: str) -> str:
    field = LogRecord._meta.get_field(name)
    return field.column  # type: ignore[union-attr,return-value]


def log_records_store(*, entries: list[dict[str, Any]]) -> int:
    """Insert a batch of JSON log entries (already redacted by the formatter).

    One `executemany` of plain rows: the ORM's `bulk_create` builds a model
    instance and compiles every value of every row, which cost more CPU than the
    requests that logged them."""
    if not entries:
        return 0
    connection = connections[router.db_for_write(LogRecord)]
    ops = connection.ops
    rows = [_row(entry, ops) for entry in entries]
    quote = ops.quote_name
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - our own names
        quote(LogRecord._meta.db_table),
        ", ".join(quote(_column(name)) for name in _COLUMNS),
        ", ".join(["%s"] * len(_COLUMNS)),
    )
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for start in range(0, len(rows), 500):
            cursor.executemany(sql, rows[start : start + 500])
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
