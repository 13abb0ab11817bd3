"""What a user may use today: plan limits plus staff overrides, UTC day boundaries.

Read on the hot path, so both halves are cached: the plan by billing (invalidated on
every subscription write), the override here (invalidated by `quota_override_set`).
A boost's end date is checked at read time, so its expiry needs no invalidation.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_redis.exceptions import ConnectionInterrupted
from redis import RedisError

from billing.selectors import (
    PlanInfo,
    plan_get_for_user,
    plan_info,
    plan_info_for_user_id,
)
from flowmatik.versioned_cache import (
    versioned_get,
    versioned_hit,
    versioned_invalidate,
    versioned_keys,
    versioned_set,
)
from usage.models import QuotaOverride
from usage.types import QuotaState

logger = logging.getLogger("flowmatik.usage")

CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)

# Keys outlive the UTC day by this much, so a call spanning midnight still settles.
DAY_KEY_MARGIN_SECONDS = 3 * 3600


@dataclass(frozen=True)
class Limits:
    requests_per_day: int | None  # None = unlimited
    tokens_per_day: int | None


@dataclass(frozen=True)
class _OverrideInfo:
    requests_per_day: int | None
    tokens_per_day: int | None
    unlimited: bool
    boost_requests: int
    boost_tokens: int
    boost_until: datetime | None


def utc_now() -> datetime:
    return timezone.now().astimezone(UTC)


def utc_today() -> date:
    return utc_now().date()


def day_reset_at(day: date) -> datetime:
    """The 00:00 UTC that ends `day`."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def seconds_until_reset(day: date, now: datetime | None = None) -> int:
    now = now or utc_now()
    return max(1, int((day_reset_at(day) - now).total_seconds() + 0.999))


def day_key_ttl(day: date, now: datetime | None = None) -> int:
    """Seconds a per-day key lives: to the end of its UTC day plus a margin."""
    return seconds_until_reset(day, now) + DAY_KEY_MARGIN_SECONDS


def _override_cache_key(user_id: int) -> str:
    return f"usage:override:{user_id}"


def _cache_call(call, *args):
    """A cache call that survives the cache being down (Redis outage): the
    limits are then read from the database, never a 500."""
    try:
        return call(*args)
    except CACHE_ERRORS as exc:
        logger.warning("Cache unavailable", extra={"error": type(exc).__name__})
        return None


def override_cache_invalidate(*, user_id: int) -> None:
    _cache_call(versioned_invalidate, _override_cache_key(user_id))


def override_cache_keys(*, user_id: int) -> list[str]:
    """The cache keys of a user's override (async callers read them first and pass
    what they found to `limits_for_user_id`)."""
    return versioned_keys(_override_cache_key(user_id))


def _override_for(
    user_id: int, found: Mapping[str, Any] | None = None
) -> _OverrideInfo | None:
    lookup = (
        versioned_hit(_override_cache_key(user_id), found)
        if found is not None
        else None
    )
    if lookup is None:
        lookup = _cache_call(versioned_get, _override_cache_key(user_id))
    if lookup is not None and lookup.hit:
        return lookup.value or None
    row = QuotaOverride.objects.filter(user_id=user_id).first()
    info = (
        _OverrideInfo(
            requests_per_day=row.requests_per_day,
            tokens_per_day=row.tokens_per_day,
            unlimited=row.unlimited,
            boost_requests=row.boost_requests,
            boost_tokens=row.boost_tokens,
            boost_until=row.boost_until,
        )
        if row
        else None
    )
    if lookup is not None:
        _cache_call(versioned_set, lookup, info or False, settings.PLAN_CACHE_SECONDS)
    return info


def _plan_limits(user_id: int) -> tuple[int | None, int | None]:
    try:
        plan = plan_info_for_user_id(user_id=user_id)
    except CACHE_ERRORS as exc:
        logger.warning("Plan cache unavailable", extra={"error": type(exc).__name__})
        from accounts.models import User

        plan = plan_info(plan_get_for_user(user=User(pk=user_id)))
    return plan.requests_per_day, plan.tokens_per_day


def limits_for_user_id(
    *,
    user_id: int,
    now: datetime | None = None,
    plan: PlanInfo | None = None,
    found: Mapping[str, Any] | None = None,
) -> Limits:
    """The limits that apply to `user_id` right now (plan, override, live boost).

    `plan`: the user's plan when the caller already has it (no second lookup).
    `found`: what the caller already read of `override_cache_keys` (a hit there
    costs no cache round trip).
    """
    if not settings.QUOTA_ENFORCEMENT:
        return Limits(None, None)
    if plan is not None:
        requests, tokens = plan.requests_per_day, plan.tokens_per_day
    else:
        requests, tokens = _plan_limits(user_id)
    override = _override_for(user_id, found)
    if override is None:
        return Limits(requests, tokens)
    if override.unlimited:
        return Limits(None, None)
    if override.requests_per_day is not None:
        requests = override.requests_per_day
    if override.tokens_per_day is not None:
        tokens = override.tokens_per_day
    now = now or utc_now()
    if override.boost_until is not None and now < override.boost_until:
        if requests is not None:
            requests += override.boost_requests
        if tokens is not None:
            tokens += override.boost_tokens
    return Limits(requests, tokens)


def quota_state(
    *, limits: Limits, day: date, requests: int, tokens_used: int, tokens_reserved: int
) -> QuotaState:
    """What is left of `limits` given the day's counters (never below zero)."""
    lreq, ltok = limits.requests_per_day, limits.tokens_per_day
    return QuotaState(
        limit_requests=lreq,
        remaining_requests=None if lreq is None else max(0, lreq - requests),
        limit_tokens=ltok,
        remaining_tokens=(
            None if ltok is None else max(0, ltok - tokens_used - tokens_reserved)
        ),
        reset_at=day_reset_at(day),
        requests_used=requests,
        tokens_used=tokens_used,
        tokens_reserved=tokens_reserved,
    )
