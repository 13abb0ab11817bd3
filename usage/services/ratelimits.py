"""Per-minute rate limits on the Django cache, and the 429 errors of admission."""

import logging
from datetime import date
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from flowmatik.metrics import metrics_record_quota_refusal
from usage.errors import QuotaExceeded, RateLimited
from usage.limits import (
    CACHE_ERRORS,
    Limits,
    RateSpec,
    day_reset_at,
    parse_rate,
    quota_state,
    seconds_until_reset,
)

logger = logging.getLogger("flowmatik.usage")


def rate_spec(value: str) -> RateSpec | None:
    """The parsed per-minute limit; None when off (or `RATELIMIT_ENABLE` is false)."""
    if not settings.RATELIMIT_ENABLE:
        return None
    return _parse(value)


@lru_cache(maxsize=16)
def _parse(value: str) -> RateSpec | None:
    return parse_rate(value)


def rate_limited(scope: str, spec: RateSpec, now: float) -> RateLimited:
    retry_after = spec.seconds - (now % spec.seconds)
    metrics_record_quota_refusal(limit_type="rate")
    return RateLimited(
        details={
            "scope": scope,
            "limit": spec.count,
            "period_seconds": spec.seconds,
            "retry_after": max(1, int(retry_after + 0.999)),
        },
        retry_after=retry_after,
    )


def quota_exceeded(
    *, which: str, limits: Limits, day: date, requests: int, used: int, reserved: int
) -> QuotaExceeded:
    retry_after = seconds_until_reset(day)
    metrics_record_quota_refusal(limit_type=which)
    if which == "requests":
        limit, spent = limits.requests_per_day, requests
        message = "Daily request quota exceeded."
    else:
        limit, spent = limits.tokens_per_day, used + reserved
        message = "Daily token quota exceeded."
    exc = QuotaExceeded(
        message,
        details={
            "limit_type": which,
            "limit": limit,
            "used": spent,
            "retry_after": retry_after,
            "reset_at": day_reset_at(day).isoformat(),
        },
        retry_after=retry_after,
    )
    # The refusal carries the same X-RateLimit-* headers as an admitted call.
    exc.quota = quota_state(
        limits=limits,
        day=day,
        requests=requests,
        tokens_used=used,
        tokens_reserved=reserved,
    )
    return exc


def rate_limit_local(*, user_id: int, ip: str | None, now: float) -> None:
    """Per-minute limits on the Django cache (used when the Redis script is not).

    Fails open when the cache itself is down: the daily quota (database) still
    bounds usage, and burst protection must not turn an outage into 500s.
    """
    checks = [("user", str(user_id), rate_spec(settings.RATELIMIT_AI_PER_USER))]
    if ip:
        checks.append(("ip", ip, rate_spec(settings.RATELIMIT_AI_PER_IP)))
    for scope, ident, spec in checks:
        if spec is None:
            continue
        key = f"usage:rl:{scope}:{ident}:{spec.seconds}:{int(now // spec.seconds)}"
        try:
            cache.add(key, 0, spec.seconds + 1)
            count = cache.incr(key)
        except CACHE_ERRORS as exc:
            logger.warning(
                "Rate-limit cache unavailable", extra={"error": type(exc).__name__}
            )
            return
        if count > spec.count:
            raise rate_limited(scope, spec, now)
