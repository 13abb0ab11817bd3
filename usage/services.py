"""Usage writes: admit and settle AI calls against quotas, record usage, alert.

The gateway calls `usage_admit` before a provider call and `usage_settle` exactly once
after it. With `REDIS_URL` set each is ONE Redis round trip (a Lua script that also
applies the per-minute rate limits, and on settle buffers the usage event and any
80%/100% alert in a Redis list). `usage_events_drain` (Celery beat, every few
seconds) moves that list into the database; it is restart-safe (items move to a
processing list first and records are unique per reservation id). Without Redis, or
while it is unreachable, the database enforces the same quotas exactly
(`usage.quota_db`) and the record is written in the settle transaction.
"""

import json
import logging
import uuid
from collections import OrderedDict
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F

from usage import quota_db, quota_redis
from usage.errors import QuotaExceeded, RateLimited
from usage.limits import (
    Limits,
    RateSpec,
    day_key_ttl,
    limits_for_user_id,
    override_cache_invalidate,
    parse_rate,
    quota_state,
    seconds_until_reset,
    utc_now,
)
from usage.models import (
    AlertLevel,
    QuotaAlert,
    QuotaOverride,
    QuotaReservation,
    UsageDaily,
    UsageMonthly,
    UsageRecord,
)
from usage.types import CallStatus, QuotaState, Reservation, UsageEvent

logger = logging.getLogger("flowmatik.usage")

UNLIMITED = "unlimited"


# --- the seam: admit, settle, headers -------------------------------------------


@lru_cache(maxsize=16)
def _rate(value: str) -> RateSpec | None:
    return parse_rate(value)


def _rate_limited(scope: str, spec: RateSpec, now: float) -> RateLimited:
    retry_after = spec.seconds - (now % spec.seconds)
    return RateLimited(
        details={
            "scope": scope,
            "limit": spec.count,
            "period_seconds": spec.seconds,
            "retry_after": max(1, int(retry_after + 0.999)),
        },
        retry_after=retry_after,
    )


def _quota_exceeded(
    *, which: str, limits: Limits, day: date, requests: int, used: int, reserved: int
) -> QuotaExceeded:
    retry_after = seconds_until_reset(day)
    if which == "requests":
        limit, spent = limits.requests_per_day, requests
        message = "Daily request quota exceeded."
    else:
        limit, spent = limits.tokens_per_day, used + reserved
        message = "Daily token quota exceeded."
    return QuotaExceeded(
        message,
        details={
            "limit_type": which,
            "limit": limit,
            "used": spent,
            "retry_after": retry_after,
            "reset_at": quota_state(
                limits=limits, day=day, requests=0, tokens_used=0, tokens_reserved=0
            ).reset_at.isoformat(),
        },
        retry_after=retry_after,
    )


def _rate_limit_local(*, user_id: int, ip: str | None, now: float) -> None:
    """Per-minute limits on the Django cache (used when the Redis script is not).

    Fails open when the cache itself is down: the daily quota (database) still
    bounds usage, and burst protection must not turn an outage into 500s.
    """
    checks = [("user", str(user_id), _rate(settings.RATELIMIT_AI_PER_USER))]
    if ip:
        checks.append(("ip", ip, _rate(settings.RATELIMIT_AI_PER_IP)))
    for scope, ident, spec in checks:
        if spec is None:
            continue
        key = f"usage:rl:{scope}:{ident}:{spec.seconds}:{int(now // spec.seconds)}"
        try:
            cache.add(key, 0, spec.seconds + 1)
            count = cache.incr(key)
        except Exception as exc:  # any cache failure: fail open
            logger.warning(
                "Rate-limit cache unavailable", extra={"error": type(exc).__name__}
            )
            return
        if count > spec.count:
            raise _rate_limited(scope, spec, now)


# Per process: the counters Redis last reported per (user, day). If Redis then
# fails, the database fallback starts from at least these (see quota_db.admit).
_LAST_SEEN_MAX = 10_000
_last_seen: "OrderedDict[tuple[int, date], tuple[int, int]]" = OrderedDict()


def _remember(user_id: int, day: date, requests: int, tokens: int) -> None:
    _last_seen[(user_id, day)] = (requests, tokens)
    _last_seen.move_to_end((user_id, day))
    while len(_last_seen) > _LAST_SEEN_MAX:
        _last_seen.popitem(last=False)


def _limit_arg(value: int | None) -> int:
    return -1 if value is None else value


async def _redis_admit(
    *,
    user_id: int,
    ip: str | None,
    limits: Limits,
    day: date,
    now: datetime,
    prompt_tokens: int,
    max_tokens: int,
    endpoint: str,
    api_key_id: int | None,
) -> Reservation:
    handle = quota_redis.async_handle()
    rid = uuid.uuid4().hex
    now_ts = now.timestamp()
    qkey = quota_redis.quota_key(user_id, day)
    user_rate = _rate(settings.RATELIMIT_AI_PER_USER)
    ip_rate = _rate(settings.RATELIMIT_AI_PER_IP) if ip else None
    reservation_ttl = settings.QUOTA_RESERVATION_TTL_SECONDS
    keys = [
        qkey,
        quota_redis.reservation_key(rid),
        quota_redis.reservations_key(),
        quota_redis.rate_key("u", str(user_id), user_rate.seconds, now_ts)
        if user_rate
        else qkey,
        quota_redis.rate_key("ip", ip, ip_rate.seconds, now_ts) if ip_rate else qkey,
    ]
    args = [
        _limit_arg(limits.requests_per_day),
        _limit_arg(limits.tokens_per_day),
        prompt_tokens,
        max_tokens,
        rid,
        now_ts + reservation_ttl,
        day_key_ttl(day, now),
        reservation_ttl + 86400,
        user_rate.count if user_rate else 0,
        user_rate.seconds + 1 if user_rate else 1,
        ip_rate.count if ip_rate else 0,
        ip_rate.seconds + 1 if ip_rate else 1,
        user_id,
        day.isoformat(),
    ]
    outcome, requests, used, reserved, grant = await handle.admit(keys=keys, args=args)
    if outcome == "rate_user":
        raise _rate_limited("user", user_rate, now_ts)
    if outcome == "rate_ip":
        raise _rate_limited("ip", ip_rate, now_ts)
    if outcome != "ok":
        raise _quota_exceeded(
            which=outcome,
            limits=limits,
            day=day,
            requests=int(requests),
            used=int(used),
            reserved=int(reserved),
        )
    grant = int(grant)
    _remember(user_id, day, int(requests), int(used) + int(reserved))
    return Reservation(
        id=rid,
        user_id=user_id,
        day=day,
        tokens_reserved=prompt_tokens + grant,
        max_tokens=grant,
        quota=quota_state(
            limits=limits,
            day=day,
            requests=int(requests),
            tokens_used=int(used),
            tokens_reserved=int(reserved),
        ),
        backend="redis",
        prompt_tokens=prompt_tokens,
        endpoint=endpoint,
        api_key_id=api_key_id,
    )


def _db_admit(
    *,
    user_id: int,
    ip: str | None,
    limits: Limits,
    day: date,
    now: datetime,
    prompt_tokens: int,
    max_tokens: int,
    endpoint: str,
    api_key_id: int | None,
) -> Reservation:
    _rate_limit_local(user_id=user_id, ip=ip, now=now.timestamp())
    rid = uuid.uuid4().hex
    result = quota_db.admit(
        user_id=user_id,
        day=day,
        limits=limits,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        reservation_id=rid,
        now=now,
        floor=_last_seen.get((user_id, day)) if settings.REDIS_URL else None,
    )
    counters = result.counters
    if result.outcome != "ok":
        raise _quota_exceeded(
            which=result.outcome,
            limits=limits,
            day=day,
            requests=counters.requests,
            used=counters.tokens_used,
            reserved=counters.tokens_reserved,
        )
    return Reservation(
        id=rid,
        user_id=user_id,
        day=day,
        tokens_reserved=prompt_tokens + result.grant,
        max_tokens=result.grant,
        quota=quota_state(
            limits=limits,
            day=day,
            requests=counters.requests,
            tokens_used=counters.tokens_used,
            tokens_reserved=counters.tokens_reserved,
        ),
        backend="database",
        prompt_tokens=prompt_tokens,
        endpoint=endpoint,
        api_key_id=api_key_id,
    )


async def usage_admit(
    *,
    user_id: int,
    ip: str | None,
    prompt_tokens: int,
    max_tokens: int,
    endpoint: str,
    api_key_id: int | None = None,
) -> Reservation:
    """Admit one AI call or raise `RateLimited` / `QuotaExceeded` (both 429).

    Applies the per-minute limits (user, IP), then counts one request and reserves
    `prompt_tokens + max_tokens` tokens, `max_tokens` clamped to what the day's token
    allowance leaves (refused when not even the prompt and one output token fit).
    The caller must pass the returned reservation to `usage_settle` exactly once.
    """
    prompt_tokens = max(0, int(prompt_tokens))
    max_tokens = max(0, int(max_tokens))
    limits = await sync_to_async(limits_for_user_id)(user_id=user_id)
    now = utc_now()
    day = now.date()
    kwargs = {
        "user_id": user_id,
        "ip": ip or None,
        "limits": limits,
        "day": day,
        "now": now,
        "prompt_tokens": prompt_tokens,
        "max_tokens": max_tokens,
        "endpoint": endpoint,
        "api_key_id": api_key_id,
    }
    if quota_redis.enabled():
        try:
            return await _redis_admit(**kwargs)
        except quota_redis.REDIS_ERRORS as exc:
            quota_redis.mark_down(exc)
    return await sync_to_async(_db_admit)(**kwargs)


def event_payload(*, reservation: Reservation, event: UsageEvent) -> dict:
    """The JSON-safe form of a usage event as buffered and stored."""
    created_at = event.created_at or utc_now()
    return {
        "kind": "usage",
        "event_key": reservation.id,
        "user_id": reservation.user_id,
        "api_key_id": event.api_key_id or reservation.api_key_id,
        "endpoint": event.endpoint or reservation.endpoint,
        "model": event.model,
        "provider": event.provider,
        "status": str(event.status),
        "prompt_tokens": max(0, event.prompt_tokens),
        "completion_tokens": max(0, event.completion_tokens),
        "cost": str(event.cost),
        "currency": event.currency,
        "latency_ms": max(0, event.latency_ms),
        "request_id": event.request_id,
        "error_code": event.error_code,
        "estimated": event.estimated,
        "created_at": created_at.isoformat(),
    }


def _outcome(event: UsageEvent) -> tuple[str, int]:
    if event.status == CallStatus.ERROR:
        return "error", 0
    return "ok", max(0, event.total_tokens)


def _db_settle(
    *, reservation: Reservation, payload: dict, limits: Limits
) -> QuotaState:
    outcome, actual = _outcome_from_payload(payload)
    with transaction.atomic():
        fresh, _, _ = quota_db.settle(
            reservation_id=reservation.id, outcome=outcome, actual_tokens=actual
        )
        if fresh:
            usage_record_store(payload=payload)
        counters = quota_db.counters_for(
            user_id=reservation.user_id, day=reservation.day
        )
        if fresh and outcome == "ok":
            alert = _alert_due(limits=limits, counters=counters)
            if alert is not None:
                quota_alert_fire(
                    user_id=reservation.user_id,
                    day=reservation.day,
                    **alert,
                )
    return quota_state(
        limits=limits,
        day=reservation.day,
        requests=counters.requests,
        tokens_used=counters.tokens_used,
        tokens_reserved=counters.tokens_reserved,
    )


def _outcome_from_payload(payload: dict) -> tuple[str, int]:
    if payload["status"] == CallStatus.ERROR:
        return "error", 0
    return "ok", payload["prompt_tokens"] + payload["completion_tokens"]


def _alert_due(*, limits: Limits, counters: quota_db.Counters) -> dict | None:
    """The fuller limit's level (80/100) if at least 80% is used, else None."""
    candidates = []
    if limits.requests_per_day:
        candidates.append(
            (counters.requests / limits.requests_per_day, "requests", counters.requests)
        )
    if limits.tokens_per_day:
        candidates.append(
            (
                counters.tokens_used / limits.tokens_per_day,
                "tokens",
                counters.tokens_used,
            )
        )
    if not candidates:
        return None
    ratio, which, used = max(candidates)
    if ratio < 0.8:
        return None
    return {
        "level": AlertLevel.EXCEEDED if ratio >= 1 else AlertLevel.WARNING,
        "limit": which,
        "limit_value": (
            limits.requests_per_day if which == "requests" else limits.tokens_per_day
        ),
        "used": used,
    }


async def usage_settle(*, reservation: Reservation, event: UsageEvent) -> QuotaState:
    """Settle a reservation once (idempotent per reservation id) and record the call.

    SUCCESS/PARTIAL: the reservation becomes the actual `event.total_tokens`.
    ERROR: the whole reservation is released and the request un-counted.
    Returns the quota state after settlement.
    """
    payload = event_payload(reservation=reservation, event=event)
    limits = Limits(reservation.quota.limit_requests, reservation.quota.limit_tokens)
    if reservation.backend != "redis":
        return await sync_to_async(_db_settle)(
            reservation=reservation, payload=payload, limits=limits
        )
    outcome, actual = _outcome(event)
    try:
        handle = quota_redis.async_handle()
        fresh, requests, used, reserved, _alert = await handle.settle(
            keys=[
                quota_redis.quota_key(reservation.user_id, reservation.day),
                quota_redis.reservation_key(reservation.id),
                quota_redis.reservations_key(),
                quota_redis.events_key(),
                quota_redis.alerts_key(reservation.user_id, reservation.day),
            ],
            args=[
                reservation.id,
                outcome,
                actual,
                _limit_arg(limits.requests_per_day),
                _limit_arg(limits.tokens_per_day),
                quota_redis.event_json(payload),
                day_key_ttl(reservation.day),
                reservation.user_id,
                reservation.day.isoformat(),
            ],
        )
    except quota_redis.REDIS_ERRORS as exc:
        # The reservation stays in Redis (the sweeper frees it once Redis is back);
        # the record must not be lost, so it goes straight to the database.
        quota_redis.mark_down(exc)
        await sync_to_async(usage_record_store)(payload=payload)
        return reservation.quota
    _remember(
        reservation.user_id, reservation.day, int(requests), int(used) + int(reserved)
    )
    return quota_state(
        limits=limits,
        day=reservation.day,
        requests=int(requests),
        tokens_used=int(used),
        tokens_reserved=int(reserved),
    )


def quota_headers(state: QuotaState) -> dict[str, str]:
    """`X-RateLimit-*` headers for an AI response.

    Unlimited limits are sent as the literal `unlimited` (both the limit and the
    remaining header), so every AI response carries all five headers.
    `X-RateLimit-Reset` is the next 00:00 UTC as Unix epoch seconds.
    """

    def show(value: int | None) -> str:
        return UNLIMITED if value is None else str(value)

    return {
        "X-RateLimit-Limit-Requests": show(state.limit_requests),
        "X-RateLimit-Remaining-Requests": show(state.remaining_requests),
        "X-RateLimit-Limit-Tokens": show(state.limit_tokens),
        "X-RateLimit-Remaining-Tokens": show(state.remaining_tokens),
        "X-RateLimit-Reset": str(int(state.reset_at.timestamp())),
    }


# --- records, rollups, alerts -------------------------------------------------------


def _bump(model, lookup: dict, *, currency: str, counts: dict) -> None:
    row, _ = model.objects.get_or_create(currency=currency, **lookup)
    model.objects.filter(pk=row.pk).update(
        **{name: F(name) + value for name, value in counts.items() if value}
    )


def usage_record_store(*, payload: dict) -> bool:
    """Store one usage event and add it to the daily and monthly rollups, once.

    Returns False when this event (same reservation id) was stored before.
    """
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
                    api_key_id=payload["api_key_id"],
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


def quota_alert_fire(
    *, user_id: int, day: date, level: int, limit: str, limit_value: int, used: int
) -> QuotaAlert | None:
    """Notify the user that `level`% of a daily limit is used: once per day each.

    Reaching 100% first also marks 80% as sent (one notification, not two). At 100%
    an e-mail is queued after commit. Returns the alert, or None if already sent.
    """
    from accounts.models import User
    from dashboard.models import NotificationKind
    from dashboard.services import notification_send
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


# --- background: drain the Redis buffer, sweep dead reservations ------------------


def _apply_buffered(item: str) -> None:
    payload = json.loads(item)
    if payload.get("kind") == "alert":
        quota_alert_fire(
            user_id=payload["user_id"],
            day=date.fromisoformat(payload["day"]),
            level=payload["level"],
            limit=payload["limit"],
            limit_value=payload["limit_value"],
            used=payload["used"],
        )
    else:
        usage_record_store(payload=payload)


def usage_events_drain(*, batch_size: int = 500, max_batches: int = 20) -> int:
    """Move buffered events from Redis into the database. Returns how many.

    Restart-safe: a batch is moved to a processing list atomically, stored (each
    event once, by its unique key), and only then dropped; a batch left behind by
    a crashed run is stored again by the next run, changing nothing twice.
    """
    if not settings.REDIS_URL:
        return 0
    client = quota_redis.sync_client()
    token = uuid.uuid4().hex
    lock = quota_redis.drain_lock_key()
    if not client.set(lock, token, nx=True, ex=120):
        return 0
    take = client.register_script(quota_redis.TAKE_LUA)
    done = 0
    try:
        leftovers = client.lrange(quota_redis.processing_key(), 0, -1)
        for _ in range(max_batches):
            items = leftovers or take(
                keys=[quota_redis.events_key(), quota_redis.processing_key()],
                args=[batch_size],
            )
            leftovers = []
            if not items:
                break
            for item in items:
                _apply_buffered(item)
            client.delete(quota_redis.processing_key())
            done += len(items)
    finally:
        if client.get(lock) == token:
            client.delete(lock)
    return done


def usage_reservations_sweep(*, now: datetime | None = None) -> int:
    """Free reservations whose call died (never settled before their expiry).

    The tokens go back to the allowance; the request stays counted (the call was
    admitted and may have reached the provider). Returns how many were freed.
    """
    now = now or utc_now()
    freed = 0
    for rid in QuotaReservation.objects.filter(
        settled_at__isnull=True, expires_at__lte=now
    ).values_list("pk", flat=True)[:1000]:
        with transaction.atomic():
            fresh, _, _ = quota_db.settle(
                reservation_id=rid, outcome="release", actual_tokens=0, now=now
            )
        freed += int(fresh)
    if settings.REDIS_URL:
        try:
            freed += _redis_sweep(now)
        except quota_redis.REDIS_ERRORS as exc:
            quota_redis.mark_down(exc)
    if freed:
        logger.info("Swept dead quota reservations", extra={"count": freed})
    return freed


def _redis_sweep(now: datetime) -> int:
    client = quota_redis.sync_client()
    settle = client.register_script(quota_redis.SETTLE_LUA)
    freed = 0
    expired = client.zrangebyscore(
        quota_redis.reservations_key(), "-inf", now.timestamp(), start=0, num=1000
    )
    for rid in expired:
        uid, day_text = client.hmget(quota_redis.reservation_key(rid), "uid", "day")
        if uid is None:
            client.zrem(quota_redis.reservations_key(), rid)
            continue
        day = date.fromisoformat(day_text)
        fresh = settle(
            keys=[
                quota_redis.quota_key(int(uid), day),
                quota_redis.reservation_key(rid),
                quota_redis.reservations_key(),
                quota_redis.events_key(),
                quota_redis.alerts_key(int(uid), day),
            ],
            args=[rid, "release", 0, -1, -1, "", day_key_ttl(day, now), uid, day_text],
        )[0]
        freed += int(fresh)
    return freed


# --- staff overrides ------------------------------------------------------------------


def quota_override_set(
    *,
    user_id: int,
    requests_per_day: int | None = None,
    tokens_per_day: int | None = None,
    unlimited: bool = False,
    boost_requests: int = 0,
    boost_tokens: int = 0,
    boost_until: datetime | None = None,
    reason: str = "",
    updated_by=None,
) -> QuotaOverride:
    """Create or replace a user's override; it applies to the next call at once."""
    override, _ = QuotaOverride.objects.update_or_create(
        user_id=user_id,
        defaults={
            "requests_per_day": requests_per_day,
            "tokens_per_day": tokens_per_day,
            "unlimited": unlimited,
            "boost_requests": boost_requests,
            "boost_tokens": boost_tokens,
            "boost_until": boost_until,
            "reason": reason,
            "updated_by": updated_by,
        },
    )
    transaction.on_commit(lambda: override_cache_invalidate(user_id=user_id))
    override_cache_invalidate(user_id=user_id)
    return override


def quota_override_delete(*, user_id: int) -> None:
    QuotaOverride.objects.filter(user_id=user_id).delete()
    transaction.on_commit(lambda: override_cache_invalidate(user_id=user_id))
    override_cache_invalidate(user_id=user_id)
