"""Staff reads of the queryable log copy (`/api/admin/logs`)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from dashboard.models import LogRecord

# Severity order of the JSON `level` field; a filter keeps this level and above.
LEVELS = ("debug", "info", "warning", "error", "critical")


@dataclass(frozen=True)
class LogFilters:
    level: str | None = None
    service: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""


def log_record_list(*, filters: LogFilters) -> QuerySet[LogRecord]:
    """Stored records matching the filters, newest first."""
    records = LogRecord.objects.all()
    if filters.level:
        records = records.filter(level__in=LEVELS[LEVELS.index(filters.level) :])
    if filters.service:
        records = records.filter(service=filters.service)
    if filters.user_id:
        records = records.filter(user_id=filters.user_id)
    if filters.request_id:
        records = records.filter(request_id=filters.request_id)
    if filters.since is not None:
        records = records.filter(timestamp__gte=filters.since)
    if filters.until is not None:
        records = records.filter(timestamp__lt=filters.until)
    if filters.q:
        records = records.filter(message__icontains=filters.q)
    return records.order_by("-timestamp", "-id")
