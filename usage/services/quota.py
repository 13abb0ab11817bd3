"""Admission and settlement of AI calls against the daily quotas (the gateway seam).

`usage_admit` before a provider call, `usage_settle` exactly once after it. With
`REDIS_URL` set each is ONE Redis round trip (`usage.quota_redis`); without Redis,
or while it is unreachable, the database enforces the same quotas exactly
(`usage.quota_db`) and the usage record is written in the settle transaction.
On Redis the record goes to the process's background writer
(`usage.record_writer`), so a warm AI call does no database query at all.
"""

import logging
import math
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from billing.selectors import PlanInfo
from flowmatik.acache import acache_get_many
from flowmatik.db_threads import drop_connection
from flowmatik.errors import ApplicationError, ServiceUnavailable
from flowmatik.metrics import ametrics_record_ai_call
from usage import quota_db, quota_redis, record_writer
from usage.daily_limits import (
    CACHE_ERRORS,
    Limits,
    day_key_ttl,
    limits_for_user_id,
    override_cache_keys,
    quota_state,
    utc_now,
)
from usage.errors import RateLimited
from usage.models import AlertLevel
from usage.services.records import quota_alert_fire, usage_record_store
from usage.services.refusals import (
    RateSpec,
    quota_exceeded,
    rate_limit_local,
    rate_limited,
    rate_spec,
)
from usage.types import CallStatus, QuotaState, Reservation, UsageEvent

logger = logging.getLogger("flowmatik.usage")

UNLIMITED = "unlimited"


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
    call_id: str,
) -> Reservation:
    handle = quota_redis.async_handle()
    rid = call_id
    now_ts = now.timestamp()
    qkey = quota_redis.quota_key(user_id, day)
    user_rate = rate_spec(settings.RATELIMIT_AI_PER_USER)
    ip_rate = rate_spec(settings.RATELIMIT_AI_PER_IP) if ip else None
    reservation_ttl = settings.QUOTA_RESERVATION_TTL_SECONDS
    keys = [
        qkey,
        quota_redis.reservation_key(rid),
        quota_redis.reservations_key(),
        quota_redis.rate_key("u", str(user_id), user_rate.seconds, now_ts)
        if user_rate
        else qkey,
        quota_redis.rate_key("ip", ip, ip_rate.seconds, now_ts)
        if ip_rate and ip  # ip_rate is only set with an ip
        else qkey,
        quota_redis.epoch_key(),
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
        quota_redis.expected_epoch(),
        quota_redis.new_epoch(),
        "",
        "",
    ]
    # In doubt until Redis answers: a failure leaves it so (the script may have run).
    quota_redis.doubt_begin(user_id, day, rid, prompt_tokens + max_tokens)
    outcome, requests, used, reserved, grant, epoch = await handle.admit(
        keys=keys, args=args
    )
    if outcome == "epoch":
        # Redis came back empty since this process last used it (nothing admitted).
        quota_redis.doubt_end(user_id, day, rid)
        quota_redis.epoch_adopt(epoch)
        _refuse_while_held()
        args[14] = epoch
        quota_redis.doubt_begin(user_id, day, rid, prompt_tokens + max_tokens)
        outcome, requests, used, reserved, grant, epoch = await handle.admit(
            keys=keys, args=args
        )
    if outcome == "seed":
        # Redis does not know the user's day (its first call today, or Redis came
        # back empty): start it from what the database knows. Reserved tokens of
        # fallback calls still running count as used there (they settle on the DB).
        quota_redis.doubt_end(user_id, day, rid)
        known = await sync_to_async(quota_db.known_usage)(user_id=user_id, day=day)
        args[16] = known.requests
        args[17] = known.tokens_used + known.tokens_reserved
        quota_redis.doubt_begin(user_id, day, rid, prompt_tokens + max_tokens)
        outcome, requests, used, reserved, grant, epoch = await handle.admit(
            keys=keys, args=args
        )
    quota_redis.doubt_end(user_id, day, rid)
    quota_redis.epoch_adopt(epoch)
    quota_redis.mark_ok()
    if outcome == "epoch":  # emptied again between the two calls: try later
        _refuse_while_held()
        raise _quota_unavailable(retry_after=1)
    if outcome == "rate_user":
        # The script only answers rate_* for a limit it was given (count > 0).
        raise rate_limited("user", cast(RateSpec, user_rate), now_ts)
    if outcome == "rate_ip":
        raise rate_limited("ip", cast(RateSpec, ip_rate), now_ts)
    if outcome != "ok":
        raise quota_exceeded(
            which=outcome,
            limits=limits,
            day=day,
            requests=int(requests),
            used=int(used),
            reserved=int(reserved),
        )
    grant = int(grant)
    quota_redis.remember_counters(
        user_id, day, int(requests), int(used) + int(reserved)
    )
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


def _fallback_floor(*, user_id: int, day: date, call_id: str) -> tuple[int, int]:
    """Lower bound of the user's day when Redis is configured but down: what the
    database knows (records written through + open fallback reservations). With no
    failover hold, calls Redis admitted may still run unrecorded, so what this
    process last saw on Redis plus its admissions in doubt count too (an admission
    whose answer was lost never ran: after the hold it would only over-count)."""
    known = quota_db.known_usage(user_id=user_id, day=day)
    if settings.QUOTA_FAILOVER_HOLD_SECONDS > 0:
        return known.requests, known.tokens_used
    seen = quota_redis.fallback_floor(user_id, day, call_id=call_id) or (0, 0)
    return max(known.requests, seen[0]), max(known.tokens_used, seen[1])


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
    call_id: str,
) -> Reservation:
    rate_limit_local(user_id=user_id, ip=ip, now=now.timestamp())
    rid = call_id
    with quota_db.serialized():
        result = quota_db.admit(
            user_id=user_id,
            day=day,
            limits=limits,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            reservation_id=rid,
            now=now,
            floor=_fallback_floor(user_id=user_id, day=day, call_id=rid)
            if settings.REDIS_URL
            else None,
        )
    counters = result.counters
    if result.outcome == "ok":
        # Now counted on the database: the same call's Redis doubt is no extra call.
        quota_redis.doubt_end(user_id, day, rid)
    if result.outcome != "ok":
        raise quota_exceeded(
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


async def _limits_for(*, user_id: int, plan: PlanInfo | None) -> Limits:
    found = None
    if plan is not None and settings.QUOTA_ENFORCEMENT:
        try:  # the override, read without blocking the event loop
            found = await acache_get_many(override_cache_keys(user_id=user_id))
        except CACHE_ERRORS:
            found = None  # limits_for_user_id handles the outage
    try:  # cache hits touch no database, so they may run on the event loop
        return limits_for_user_id(user_id=user_id, plan=plan, found=found)
    except SynchronousOnlyOperation:  # a miss needs the database: use a thread
        return await sync_to_async(limits_for_user_id)(user_id=user_id, plan=plan)


async def usage_admit(
    *,
    user_id: int,
    ip: str | None,
    prompt_tokens: int,
    max_tokens: int,
    endpoint: str,
    api_key_id: int | None = None,
    plan: PlanInfo | None = None,
) -> Reservation:
    """Admit one AI call or raise `RateLimited` / `QuotaExceeded` (both 429).

    `plan` is the caller's `PlanInfo` when it already has it: the plan is then not
    looked up again, and with the override cached no thread is needed at all.

    Applies the per-minute limits (user, IP), then counts one request and reserves
    `prompt_tokens + max_tokens` tokens, `max_tokens` clamped to what the day's token
    allowance leaves (refused when not even the prompt and one output token fit).
    The caller must pass the returned reservation to `usage_settle` exactly once.
    """
    prompt_tokens = max(0, int(prompt_tokens))
    max_tokens = max(0, int(max_tokens))
    limits = await _limits_for(user_id=user_id, plan=plan)
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
    try:
        return await _admit(**kwargs)
    except RateLimited as exc:
        # A per-minute refusal counts nothing; it still tells the day's quota.
        exc.quota = await sync_to_async(_quota_or_none)(user_id=user_id)
        raise


def _quota_or_none(*, user_id: int) -> QuotaState | None:
    from usage.selectors import quota_state_for_user

    try:
        return quota_state_for_user(user_id=user_id)
    except DatabaseError:
        logger.warning("Quota state unavailable for a rate-limit refusal")
        return None


def _quota_unavailable(*, retry_after: float) -> ServiceUnavailable:
    return ServiceUnavailable(
        "Usage metering is unavailable, try again shortly.",
        code="quota_unavailable",
        retry_after=max(1, math.ceil(retry_after)),
    )


def _refuse_while_held() -> None:
    """503 while this process holds admissions after a Redis failover: calls Redis
    admitted may still be running, unknown to the database (quota_redis explains)."""
    held = quota_redis.hold_remaining()
    if held > 0:
        raise _quota_unavailable(retry_after=held)


async def _admit(**kwargs: Any) -> Reservation:
    kwargs["call_id"] = uuid.uuid4().hex
    if settings.REDIS_URL:
        _refuse_while_held()
    if quota_redis.enabled():
        try:
            return await _redis_admit_or_unavailable(**kwargs)
        except quota_redis.REDIS_ERRORS as exc:
            if quota_redis.is_timeout(exc):
                # The script may have admitted the call: refuse it, and leave the
                # database fallback (which cannot know) out of it.
                raise _quota_unavailable(retry_after=1) from exc
            quota_redis.mark_down(exc)
            _refuse_while_held()
    try:
        return await sync_to_async(_db_admit)(**kwargs)
    except DatabaseError as exc:
        # Neither store can answer: refuse (fail closed), never a 500.
        logger.exception("Quota database unavailable")
        raise _quota_unavailable(retry_after=5) from exc


async def _redis_admit_or_unavailable(**kwargs: Any) -> Reservation:
    try:
        return await _redis_admit(**kwargs)
    except DatabaseError as exc:  # seeding a user from the database failed
        logger.exception("Quota database unavailable")
        raise _quota_unavailable(retry_after=5) from exc


def event_payload(*, reservation: Reservation, event: UsageEvent) -> dict[str, Any]:
    """The JSON-safe form of a usage event as buffered and stored."""
    created_at = event.created_at or utc_now()
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    created_at = created_at.astimezone(UTC)
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


def _db_settle(
    *, reservation: Reservation, payload: dict[str, Any], limits: Limits
) -> QuotaState:
    outcome, actual = _outcome_from_payload(payload)
    with quota_db.serialized(), transaction.atomic():
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


def _db_settle_retrying(
    *, reservation: Reservation, payload: dict[str, Any], limits: Limits
) -> QuotaState:
    """`_db_settle`, again on a new connection when the database dropped the one it
    used (the transaction rolled back whole; settling is idempotent), backing off
    (doubling, at most a second) for up to `USAGE_SETTLE_DB_RETRY_SECONDS`: a call
    that was served keeps its usage record through a database outage that long."""
    deadline = time.monotonic() + settings.USAGE_SETTLE_DB_RETRY_SECONDS
    backoff = settings.USAGE_SETTLE_DB_BACKOFF_SECONDS
    while True:
        try:
            return _db_settle(reservation=reservation, payload=payload, limits=limits)
        except (OperationalError, InterfaceError):
            # The connection failed mid-use (not always flagged as broken): a new one.
            drop_connection()
            if time.monotonic() + backoff > deadline:
                logger.exception(
                    "Usage not settled: the database kept failing",
                    extra={"eventKey": payload["event_key"]},
                )
                raise
            time.sleep(backoff)
            backoff = min(1.0, backoff * 2)


def _outcome_from_payload(payload: dict[str, Any]) -> tuple[str, int]:
    if payload["status"] == CallStatus.ERROR:
        return "error", 0
    return "ok", int(payload["prompt_tokens"] + payload["completion_tokens"])


def _alert_due(*, limits: Limits, counters: quota_db.Counters) -> dict[str, Any] | None:
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
    await ametrics_record_ai_call(
        user_id=payload["user_id"],
        model=payload["model"],
        status=payload["status"],
        prompt_tokens=payload["prompt_tokens"],
        completion_tokens=payload["completion_tokens"],
        cost=payload["cost"],
        currency=payload["currency"],
    )
    limits = Limits(reservation.quota.limit_requests, reservation.quota.limit_tokens)
    if reservation.backend != "redis":
        return await sync_to_async(_db_settle_retrying)(
            reservation=reservation, payload=payload, limits=limits
        )
    outcome, actual = _outcome_from_payload(payload)
    # With the background writer the script also buffers the record in Redis (no
    # extra round trip): the writer stores it soon, the drain task if Redis
    # outlives this process; the request itself does no database query.
    in_background = record_writer.enabled()
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
                quota_redis.event_json(payload) if in_background else "",
                day_key_ttl(reservation.day),
                reservation.user_id,
                reservation.day.isoformat(),
            ],
        )
    except quota_redis.REDIS_ERRORS as exc:
        # The reservation stays in Redis (the sweeper frees it if Redis comes
        # back with it); the record goes to the database as always.
        quota_redis.mark_down(exc)
        await _record_keep(payload, in_background=in_background)
        return reservation.quota
    quota_redis.mark_ok()
    quota_redis.remember_counters(
        reservation.user_id, reservation.day, int(requests), int(used) + int(reserved)
    )
    await _record_keep(payload, in_background=in_background)
    return quota_state(
        limits=limits,
        day=reservation.day,
        requests=int(requests),
        tokens_used=int(used),
        tokens_reserved=int(reserved),
    )


async def _record_keep(payload: dict[str, Any], *, in_background: bool) -> None:
    if in_background:
        record_writer.record_submit(payload)
    else:
        await _record_write_through(payload)


async def _record_write_through(payload: dict[str, Any]) -> None:
    """Store the call's usage record now (idempotent by reservation id), so Redis
    dying loses none; if the database refuses, Redis buffers it for the drain task."""
    try:
        await sync_to_async(usage_record_store)(payload=payload)
        return
    except DatabaseError:
        logger.warning("Usage record buffered in Redis: the database refused it")
    try:
        await quota_redis.async_handle().client.rpush(
            quota_redis.events_key(), quota_redis.event_json(payload)
        )
    except quota_redis.REDIS_ERRORS:
        logger.exception(
            "Usage record lost: neither the database nor Redis took it",
            extra={"eventKey": payload["event_key"]},
        )


def quota_headers(state: QuotaState | None) -> dict[str, str]:
    """`X-RateLimit-*` headers for an AI response (none without a quota state).

    Unlimited limits are sent as the literal `unlimited` (both the limit and the
    remaining header), so every AI response carries all five headers.
    `X-RateLimit-Reset` is the next 00:00 UTC as Unix epoch seconds.
    """
    if state is None:
        return {}

    def show(value: int | None) -> str:
        return UNLIMITED if value is None else str(value)

    return {
        "X-RateLimit-Limit-Requests": show(state.limit_requests),
        "X-RateLimit-Remaining-Requests": show(state.remaining_requests),
        "X-RateLimit-Limit-Tokens": show(state.limit_tokens),
        "X-RateLimit-Remaining-Tokens": show(state.remaining_tokens),
        "X-RateLimit-Reset": str(int(state.reset_at.timestamp())),
    }


def error_headers(exc: ApplicationError) -> dict[str, str]:
    """Retry-After, and the X-RateLimit-* headers of the quota the error carries
    (refusals, and failures after admission: `ai.services.chat_run` attaches it)."""
    headers = dict(exc.headers())
    headers.update(quota_headers(getattr(exc, "quota", None)))
    return headers
