"""Usage reads: today's quota state, analytics from the rollups, AI cost per user.

Analytics read `UsageDaily` / `UsageMonthly` (a few rows per user and day), never
the raw `UsageRecord` table.
"""

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from flowmatik.errors import NotFound
from usage import quota_db, quota_redis
from usage.daily_limits import limits_for_user_id, quota_state, utc_today
from usage.models import QuotaOverride, UsageDaily, UsageMonthly, UsageRecord
from usage.types import QuotaState

if TYPE_CHECKING:
    from accounts.models import User

GROUP_BY_FIELDS = {"day": "day", "model": "model", "endpoint": "endpoint"}
_SUMS = {
    "requests": Sum("requests"),
    "failed_requests": Sum("failed_requests"),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "total_tokens": Sum("total_tokens"),
    "cost": Sum("cost"),
}


def usage_target_user_id(*, user: "User", requested_user_id: int | None) -> int:
    """Whose usage `user` reads: their own; staff may name another user.

    Anyone else naming another user gets 404 (as does staff naming a missing one),
    so ids cannot be probed.
    """
    if requested_user_id is None or requested_user_id == user.pk:
        return user.pk
    if not user.is_staff:
        raise NotFound()
    from accounts.models import User

    if not User.objects.filter(pk=requested_user_id).exists():
        raise NotFound()
    return requested_user_id


def _counters(user_id: int, day: date) -> tuple[int, int, int]:
    if quota_redis.enabled():
        try:
            values = quota_redis.sync_client().hmget(
                quota_redis.quota_key(user_id, day), "req", "used", "res"
            )
            requests, used, reserved = (int(v or 0) for v in values)
            return requests, used, reserved
        except quota_redis.REDIS_ERRORS as exc:
            quota_redis.mark_down(exc)
    with quota_db.serialized():
        counters = quota_db.counters_for(user_id=user_id, day=day)
    return counters.requests, counters.tokens_used, counters.tokens_reserved


def quota_state_for_user(*, user_id: int) -> QuotaState:
    """Today's limits and what is left of them (for /api/auth/me and usage/today)."""
    day = utc_today()
    requests, used, reserved = _counters(user_id, day)
    return quota_state(
        limits=limits_for_user_id(user_id=user_id),
        day=day,
        requests=requests,
        tokens_used=used,
        tokens_reserved=reserved,
    )


def quota_summary_for_user(*, user_id: int) -> dict[str, Any]:
    """`quota_state_for_user` as JSON-ready data (None = unlimited), for callers
    that are not DRF views (tool results, staff summaries)."""
    state = quota_state_for_user(user_id=user_id)
    return {
        "limit_requests": state.limit_requests,
        "remaining_requests": state.remaining_requests,
        "requests_used": state.requests_used,
        "limit_tokens": state.limit_tokens,
        "remaining_tokens": state.remaining_tokens,
        "tokens_used": state.tokens_used,
        "tokens_reserved": state.tokens_reserved,
        "reset_at": state.reset_at.isoformat().replace("+00:00", "Z"),
    }


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    for name in _SUMS:
        if name == "cost":
            row[name] = row[name] if row[name] is not None else Decimal("0")
        else:
            row[name] = row[name] or 0
    return row


def usage_summary(
    *, user_id: int, date_from: date, date_to: date, group_by: str
) -> list[dict[str, Any]]:
    """Requests, tokens and cost per day|model|endpoint (and currency), oldest first."""
    field = GROUP_BY_FIELDS[group_by]
    rows = (
        UsageDaily.objects.filter(user_id=user_id, day__gte=date_from, day__lte=date_to)
        .values(field, "currency")
        .annotate(**_SUMS)
        .order_by(field, "currency")
    )
    return [_clean({"key": row.pop(field), **row}) for row in rows]


def usage_daily_by_model(
    *, user_id: int, date_from: date, date_to: date
) -> list[dict[str, Any]]:
    """Requests, tokens and cost per day, model and currency, oldest day first
    (the usage page's charts); days without usage are absent."""
    rows = (
        UsageDaily.objects.filter(user_id=user_id, day__gte=date_from, day__lte=date_to)
        .values("day", "model", "currency")
        .annotate(**_SUMS)
        .order_by("day", "model", "currency")
    )
    return [_clean(dict(row)) for row in rows]


def usage_totals(
    *, user_id: int, date_from: date, date_to: date
) -> list[dict[str, Any]]:
    """Totals over the range, one row per currency."""
    rows = (
        UsageDaily.objects.filter(user_id=user_id, day__gte=date_from, day__lte=date_to)
        .values("currency")
        .annotate(**_SUMS)
        .order_by("currency")
    )
    return [_clean(dict(row)) for row in rows]


def usage_today(*, user_id: int) -> dict[str, Any]:
    """Today's quota state and recorded totals (records lag the counters by the
    drain interval when Redis buffers them)."""
    day = utc_today()
    return {
        "day": day,
        "quota": quota_state_for_user(user_id=user_id),
        "totals": usage_totals(user_id=user_id, date_from=day, date_to=day),
    }


def usage_monthly_for_user(*, user_id: int, month: date) -> QuerySet[UsageMonthly]:
    """The month's summary per model (for invoices and analytics)."""
    return UsageMonthly.objects.filter(user_id=user_id, month=month.replace(day=1))


def ai_cost_by_user(
    *, date_from: date, date_to: date, limit: int = 50
) -> list[dict[str, object]]:
    """AI cost per user over the range, most expensive first (admin dashboard)."""
    rows = (
        UsageDaily.objects.filter(day__gte=date_from, day__lte=date_to)
        .values("user_id", "user__email", "currency")
        .annotate(**_SUMS)
        .order_by("-cost", "user_id")[:limit]
    )
    return [_clean(dict(row)) for row in rows]


def usage_records_for_user(*, user_id: int) -> QuerySet[UsageRecord]:
    """Raw records of one user, newest first (admin/debugging, paginated by callers)."""
    return UsageRecord.objects.filter(user_id=user_id)


def usage_platform_daily(*, date_from: date, date_to: date) -> list[dict[str, Any]]:
    """Every user's requests, tokens and cost per day and currency (admin dashboard).

    Days without usage are absent; callers fill the gaps.
    """
    rows = (
        UsageDaily.objects.filter(day__gte=date_from, day__lte=date_to)
        .values("day", "currency")
        .annotate(**_SUMS)
        .order_by("day", "currency")
    )
    return [_clean(dict(row)) for row in rows]


def usage_active_user_count(*, day: date) -> int:
    """Users with at least one AI call (counted or failed) on `day`."""
    return UsageDaily.objects.filter(day=day).values("user_id").distinct().count()


def usage_day_for_users(*, user_ids: list[int], day: date) -> dict[int, dict[str, Any]]:
    """Requests and tokens of each listed user on `day` (one query for a page)."""
    rows = (
        UsageDaily.objects.filter(user_id__in=user_ids, day=day)
        .values("user_id")
        .annotate(requests=Sum("requests"), total_tokens=Sum("total_tokens"))
    )
    return {
        row["user_id"]: {
            "requests": row["requests"] or 0,
            "total_tokens": row["total_tokens"] or 0,
        }
        for row in rows
    }


def usage_month_cost_for_users(
    *, user_ids: list[int], month: date
) -> dict[int, dict[str, Decimal]]:
    """AI cost of each listed user in `month`, per currency (one query for a page)."""
    rows = (
        UsageMonthly.objects.filter(user_id__in=user_ids, month=month.replace(day=1))
        .values("user_id", "currency")
        .annotate(cost=Sum("cost"))
        .order_by("user_id", "currency")
    )
    result: dict[int, dict[str, Decimal]] = {}
    for row in rows:
        result.setdefault(row["user_id"], {})[row["currency"]] = row["cost"]
    return result


def usage_month_cost_expression(*, month: date, user_ref: str = "pk") -> Coalesce:
    """The user's AI cost in `month` (all currencies summed) as SQL, for sorting."""
    total = (
        UsageMonthly.objects.filter(user_id=OuterRef(user_ref), month=month)
        .values("user_id")
        .annotate(total=Sum("cost"))
        .values("total")[:1]
    )
    return Coalesce(
        Subquery(total),
        Value(Decimal("0")),
        output_field=DecimalField(max_digits=16, decimal_places=6),
    )


def quota_override_get(*, user_id: int) -> QuotaOverride | None:
    """The user's staff override (raised limits / boost), if any."""
    return QuotaOverride.objects.filter(user_id=user_id).first()
