"""Usage records, daily/monthly rollups, and the 80%/100% quota alerts."""

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Value

from usage.daily_limits import utc_now
from usage.models import (
    AlertLevel,
    QuotaAlert,
    UsageDaily,
    UsageMonthly,
    UsageRecord,
)
from usage.types import CallStatus

logger = logging.getLogger("flowmatik.usage")


def _bump(
    model: type[UsageDaily] | type[UsageMonthly],
    lookup: dict[str, Any],
    *,
    currency: str,
    counts: dict[str, int | Decimal],
) -> None:
    row, _ = model.objects.get_or_create(currency=currency, **lookup)
    model.objects.filter(pk=row.pk).update(
        **{name: F(name) + value for name, value in counts.items() if value}
    )


def usage_record_store(*, payload: dict[str, Any]) -> bool:
    """Store one usage event and add it to the daily and monthly rollups, once.

    Returns False when this event (same reservation id) was stored before.
    """
    from accounts.models import ApiKey, User

    if not User.objects.filter(pk=payload["user_id"]).exists():
        logger.warning(
            "Usage event of a deleted user dropped",
            extra={"userId": payload["user_id"]},
        )
        return False
    api_key_id = payload["api_key_id"]
    if api_key_id and not ApiKey.objects.filter(pk=api_key_id).exists():
        api_key_id = None  # the key was deleted since; the usage still counts
    created_at = datetime.fromisoformat(payload["created_at"])
    counted = payload["status"] != CallStatus.ERROR
    prompt = payload["prompt_tokens"]
    completion = payload["completion_tokens"]
    cost = Decimal(payload["cost"])
    with transaction.atomic():
        try:
            with transaction.atomic():
                UsageRecord.objects.create(
                    event_key=payload["event_key"],
                    user_id=payload["user_id"],
                    api_key_id=api_key_id,
                    endpoint=payload["endpoint"][:64],
                    model=payload["model"][:128],
                    provider=payload["provider"][:64],
                    status=payload["status"],
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    total_tokens=prompt + completion,
                    cost=cost,
                    currency=payload["currency"],
                    latency_ms=payload["latency_ms"],
                    request_id=payload["request_id"][:128],
                    error_code=payload["error_code"][:64],
                    estimated=payload["estimated"],
                    created_at=created_at,
                )
        except IntegrityError:
            if UsageRecord.objects.filter(event_key=payload["event_key"]).exists():
                return False
            raise
        counts = {
            "requests": 1 if counted else 0,
            "failed_requests": 0 if counted else 1,
            "prompt_tokens": prompt if counted else 0,
            "completion_tokens": completion if counted else 0,
            "total_tokens": prompt + completion if counted else 0,
            "cost": cost,
        }
        day = created_at.date()
        _bump(
            UsageDaily,
            {
                "user_id": payload["user_id"],
                "day": day,
                "endpoint": payload["endpoint"][:64],
                "model": payload["model"][:128],
            },
            currency=payload["currency"],
            counts=counts,
        )
        _bump(
            UsageMonthly,
            {
                "user_id": payload["user_id"],
                "month": day.replace(day=1),
                "model": payload["model"][:128],
            },
            currency=payload["currency"],
            counts=counts,
        )
    return True


def _rollup_counts(payload: dict[str, Any]) -> dict[str, int | Decimal]:
    counted = payload["status"] != CallStatus.ERROR
    prompt = payload["prompt_tokens"]
    completion = payload["completion_tokens"]
    return {
        "requests": 1 if counted else 0,
        "failed_requests": 0 if counted else 1,
        "prompt_tokens": prompt if counted else 0,
        "completion_tokens": completion if counted else 0,
        "total_tokens": prompt + completion if counted else 0,
        "cost": Decimal(payload["cost"]),
    }


def _add_counts(
    into: dict[tuple[Any, ...], dict[str, int | Decimal]],
    key: tuple[Any, ...],
    counts: dict[str, int | Decimal],
) -> None:
    total = into.setdefault(key, dict.fromkeys(counts, 0))
    for name, value in counts.items():
        total[name] += value


def usage_records_store_batch(*, payloads: list[dict[str, Any]]) -> int:
    """Store many usage events in ONE transaction, each once (by its event key), and
    add the new ones to the daily and monthly rollups. Returns how many were new.

    Events stored before (by the drain task, or an earlier batch) and events of
    deleted users are skipped; an event of a deleted API key keeps its usage. A
    concurrent writer of the same key makes the insert fail (`IntegrityError`):
    the whole batch rolls back and may be retried, changing nothing twice.
    """
    from accounts.models import ApiKey, User

    unique: dict[str, dict[str, Any]] = {}
    for payload in payloads:
        unique.setdefault(payload["event_key"], payload)
    if not unique:
        return 0
    with transaction.atomic():
        stored = set(
            UsageRecord.objects.filter(event_key__in=list(unique)).values_list(
                "event_key", flat=True
            )
        )
        fresh = [p for key, p in unique.items() if key not in stored]
        if not fresh:
            return 0
        # Which users and API keys still exist, in one query (a key of a deleted
        # user is gone with it, so asking before dropping those users is the same).
        existing = (
            User.objects.filter(pk__in={p["user_id"] for p in fresh})
            .order_by()
            .values_list(Value(_USER), "pk")
        )
        key_ids = {p["api_key_id"] for p in fresh if p["api_key_id"]}
        if key_ids:
            existing = existing.union(
                ApiKey.objects.filter(pk__in=key_ids)
                .order_by()
                .values_list(Value(_KEY), "pk"),
                all=True,
            )
        users: set[int] = set()
        keys: set[int] = set()
        for kind, pk in existing:
            (users if kind == _USER else keys).add(pk)
        gone = [p for p in fresh if p["user_id"] not in users]
        if gone:
            logger.warning(
                "Usage events of deleted users dropped", extra={"count": len(gone)}
            )
        fresh = [p for p in fresh if p["user_id"] in users]
        if not fresh:
            return 0
        _records_insert([_record_row(p, api_key_ids=keys) for p in fresh])
        daily: dict[tuple[Any, ...], dict[str, int | Decimal]] = {}
        monthly: dict[tuple[Any, ...], dict[str, int | Decimal]] = {}
        for p in fresh:
            counts = _rollup_counts(p)
            day = datetime.fromisoformat(p["created_at"]).date()
            endpoint, model = p["endpoint"][:64], p["model"][:128]
            _add_counts(
                daily, (p["user_id"], day, endpoint, model, p["currency"]), counts
            )
            _add_counts(
                monthly,
                (p["user_id"], day.replace(day=1), model, p["currency"]),
                counts,
            )
        _rollups_add(
            UsageDaily, ("user", "day", "endpoint", "model", "currency"), daily
        )
        _rollups_add(UsageMonthly, ("user", "month", "model", "currency"), monthly)
    return len(fresh)


_USER, _KEY = 0, 1  # which table a row of the existence query comes from

_COUNTERS = (
    "requests",
    "failed_requests",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
)


def _rollups_add(
    model: type[UsageDaily] | type[UsageMonthly],
    key_fields: tuple[str, ...],
    totals: dict[tuple[Any, ...], dict[str, int | Decimal]],
) -> None:
    """Add `totals` (per unique key of the rollup, in `key_fields` order) to the
    rollup rows, creating the missing ones: one upsert statement for all keys.

    The database adds to what is stored (`col = col + new`) under the row lock,
    so concurrent writers never lose a count. Keys go in sorted order, so two
    writers lock rows in the same order. MySQL/MariaDB: `ON DUPLICATE KEY
    UPDATE`; SQLite and PostgreSQL: `ON CONFLICT (the unique key) DO UPDATE`.
    """
    if not totals:
        return
    fields = [_concrete(model, name) for name in key_fields]
    counters = [_concrete(model, name) for name in _COUNTERS]
    stamp = _concrete(model, "updated_at")
    columns = [*fields, *counters, stamp]
    now = utc_now()
    rows = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(
                columns, [*key, *(counts[name] for name in _COUNTERS), now], strict=True
            )
        ]
        for key, counts in sorted(totals.items())
    ]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    added = [qn(f.column) for f in counters]
    stamped = qn(stamp.column)
    if connection.vendor == "mysql":
        on_key = "ON DUPLICATE KEY UPDATE " + ", ".join(
            [f"{c} = {c} + VALUES({c})" for c in added]
            + [f"{stamped} = VALUES({stamped})"]
        )
    else:
        on_key = (
            f"ON CONFLICT ({', '.join(qn(f.column) for f in fields)}) DO UPDATE SET "
            + ", ".join(
                [f"{c} = {table}.{c} + excluded.{c}" for c in added]
                + [f"{stamped} = excluded.{stamped}"]
            )
        )
    _rows_insert(model, columns, rows, suffix=on_key)


def _rows_insert(
    model: type[models.Model],
    columns: list[Any],
    rows: list[list[Any]],
    *,
    suffix: str = "",
) -> None:
    """INSERT `rows` (values already prepared for the database, in `columns`'
    order) into `model`'s table, as many per statement as the database takes;
    `suffix` follows the VALUES (an upsert's conflict clause)."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    names = ", ".join(qn(f.column) for f in columns)
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    size = max(1, connection.ops.bulk_batch_size(columns, rows))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            cursor.execute(
                f"INSERT INTO {table} ({names}) "  # noqa: S608 - our own names
                f"VALUES {', '.join([one] * len(chunk))} {suffix}".rstrip(),
                [value for row in chunk for value in row],
            )


class _Column(Protocol):
    column: str

    def get_db_prep_save(self, value: Any, connection: Any) -> Any: ...


def _concrete(model: type[models.Model], name: str) -> _Column:
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return cast(_Column, field)


# The columns `_records_insert` writes, in `_record_row`'s order (the id is the
# database's).
_RECORD_FIELDS = (
    "event_key",
    "user",
    "api_key",
    "endpoint",
    "model",
    "provider",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "currency",
    "latency_ms",
    "request_id",
    "error_code",
    "estimated",
    "created_at",
    "recorded_at",
)


def _record_row(payload: dict[str, Any], *, api_key_ids: set[int]) -> list[Any]:
    """A usage event's `UsageRecord` row as Python values, in `_RECORD_FIELDS`
    order but the last (`recorded_at`, the batch's: `_records_insert`)."""
    prompt = payload["prompt_tokens"]
    completion = payload["completion_tokens"]
    api_key_id = payload["api_key_id"]
    return [
        payload["event_key"],
        payload["user_id"],
        api_key_id if api_key_id in api_key_ids else None,
        payload["endpoint"][:64],
        payload["model"][:128],
        payload["provider"][:64],
        payload["status"],
        prompt,
        completion,
        prompt + completion,
        Decimal(payload["cost"]),
        payload["currency"],
        payload["latency_ms"],
        payload["request_id"][:128],
        payload["error_code"][:64],
        payload["estimated"],
        datetime.fromisoformat(payload["created_at"]),
    ]


def _records_insert(rows: list[list[Any]]) -> None:
    """INSERT the rows into `UsageRecord`'s table, as many per statement as the
    database takes. `bulk_create` compiled each value of each row through the ORM
    (most of the background writer's CPU); here only the values that need it are
    converted for the database (the decimal cost and the timestamps, by their
    fields; one `recorded_at` for the batch, as `auto_now_add` stamped it),
    strings, integers and booleans go as they are. A key stored meanwhile
    raises `IntegrityError`, as `bulk_create` did."""
    fields = [_concrete(UsageRecord, name) for name in _RECORD_FIELDS]
    converted = [
        (index, field)
        for index, (name, field) in enumerate(zip(_RECORD_FIELDS, fields, strict=True))
        if name in ("cost", "created_at")
    ]
    recorded_at = fields[-1].get_db_prep_save(utc_now(), connection)
    for row in rows:
        for index, field in converted:
            row[index] = field.get_db_prep_save(row[index], connection)
        row.append(recorded_at)
    _rows_insert(UsageRecord, fields, rows)


def quota_alert_fire(
    *, user_id: int, day: date, level: int, limit: str, limit_value: int, used: int
) -> QuotaAlert | None:
    """Notify the user that `level`% of a daily limit is used: once per day each.

    Reaching 100% first also marks 80% as sent (one notification, not two). At 100%
    an e-mail is queued after commit. Returns the alert, or None if already sent.
    """
    from accounts.models import User
    from notifications.models import NotificationKind
    from notifications.services import notification_send
    from usage.tasks import usage_quota_exceeded_email

    with transaction.atomic():
        alert, created = QuotaAlert.objects.get_or_create(
            user_id=user_id,
            day=day,
            level=level,
            defaults={"limit": limit, "limit_value": limit_value, "used": used},
        )
        if not created:
            return None
        if level == AlertLevel.EXCEEDED:
            QuotaAlert.objects.get_or_create(
                user_id=user_id,
                day=day,
                level=AlertLevel.WARNING,
                defaults={"limit": limit, "limit_value": limit_value, "used": used},
            )
        user = User.objects.get(pk=user_id)
        if level == AlertLevel.EXCEEDED:
            kind = NotificationKind.QUOTA_EXCEEDED
            title = f"You have used your daily {limit} quota"
            body = (
                f"{used} of {limit_value} {limit} used today. The quota resets at "
                "00:00 UTC; upgrade your plan for more."
            )
        else:
            kind = NotificationKind.QUOTA_WARNING
            title = f"80% of your daily {limit} quota used"
            body = f"{used} of {limit_value} {limit} used today."
        notification_send(
            user=user,
            kind=kind,
            title=title,
            body=body,
            data={
                "level": level,
                "limit_type": limit,
                "limit": limit_value,
                "used": used,
                "day": day.isoformat(),
            },
        )
        if level == AlertLevel.EXCEEDED:
            usage_quota_exceeded_email.delay_on_commit(alert.pk)
    logger.info(
        "Quota alert", extra={"userId": user_id, "level": level, "limit_type": limit}
    )
    return alert


def quota_alert_email_send(*, alert_id: int) -> bool:
    """E-mail the 100% alert once (claimed by a conditional update first)."""
    claimed = QuotaAlert.objects.filter(pk=alert_id, emailed_at__isnull=True).update(
        emailed_at=utc_now()
    )
    if not claimed:
        return False
    alert = QuotaAlert.objects.select_related("user").get(pk=alert_id)
    try:
        send_mail(
            subject=f"Flowmatik: daily {alert.limit} quota reached",
            message=(
                f"You have used {alert.used} of {alert.limit_value} {alert.limit} "
                f"on {alert.day:%Y-%m-%d}. Your quota resets at 00:00 UTC. "
                f"Upgrade your plan at {settings.FRONTEND_URL} for higher limits."
            ),
            from_email=None,
            recipient_list=[alert.user.email],
        )
    except Exception:
        QuotaAlert.objects.filter(pk=alert_id).update(emailed_at=None)
        raise
    return True
