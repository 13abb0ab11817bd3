"""Why admission refuses a call, and how it says so.

The per-minute rate limits (`RATELIMIT_AI_PER_USER`, `RATELIMIT_AI_PER_IP`): parsed
here, counted by the Redis admission script or, without it, on the Django cache
(`rate_limit_local`); and the 429 errors for them and for the daily quota
(`usage.daily_limits`), which carry the X-RateLimit-* state.
"""

import logging
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from flowmatik.metrics import metrics_record_quota_refusal
from usage.daily_limits import (
    CACHE_ERRORS,
    Limits,
    day_reset_at,
    quota_state,
    seconds_until_reset,
)
from usage.errors import QuotaExceeded, RateLimited

logger = logging.getLogger("flowmatik.usage")


@dataclass(frozen=True)
class RateSpec:
    count: int
    seconds: int


_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(value: str) -> RateSpec | None:
    """django-ratelimit's "count/period" ("120/m", "10/5m"); empty or 0 = no limit."""
    if not value or not value.strip():
        return None
    match = _RATE_RE.match(value)
    if not match:
        raise ValueError(f"Invalid rate {value!r}: use e.g. 120/m or 10/5m")
    count = int(match.group(1))
    if count <= 0:
        return None
    seconds = int(match.group(2) or 1) * _UNIT_SECONDS[match.group(3)]
    return RateSpec(count=count, seconds=seconds)


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
