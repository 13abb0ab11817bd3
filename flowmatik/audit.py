"""The audit log: who changed what, when, before/after, under which request id.

Model changes of the registered models (`AUDITLOG_INCLUDE_TRACKING_MODELS`) are
written by django-auditlog; staff code runs them inside `audit_actor(...)` so each
row names the staff member. Actions that are not a plain field change (a boost, a
notification sent, webhooks re-queued) are written explicitly with `audit_record`.
Every row carries the request id as auditlog's correlation id (`cid`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.db.models import Model, QuerySet


@contextmanager
def audit_actor(actor, *, remote_addr: str | None = None) -> Iterator[None]:
    """Attribute every audited model change inside the block to `actor`."""
    with set_actor(actor, remote_addr=remote_addr or None):
        yield


def audit_record(
    *,
    actor,
    action: str,
    target: Model,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> LogEntry:
    """Write one explicit audit row: `action` (e.g. `user.quota_boost`) on `target`.

    `before`/`after` become auditlog's `changes` ({field: [old, new]}), so explicit
    rows read like the automatic ones.
    """
    before, after = before or {}, after or {}
    changes = {
        field: [_text(before.get(field)), _text(after.get(field))]
        for field in sorted(set(before) | set(after))
        if before.get(field) != after.get(field)
    }
    return LogEntry.objects.log_create(
        target,
        force_log=True,
        action=LogEntry.Action.UPDATE,
        changes=changes,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_email=getattr(actor, "email", None),
        additional_data={"action": action, **(details or {})},
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def audit_entries_for(*, target: Model) -> QuerySet[LogEntry]:
    """Audit rows about one object, newest first."""
    return LogEntry.objects.get_for_object(target).order_by("-timestamp", "-pk")
