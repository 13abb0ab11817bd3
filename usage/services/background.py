"""Background work: drain the Redis usage buffer, sweep reservations of dead calls."""

import json
import logging
import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction

from usage import quota_db, quota_redis
from usage.daily_limits import (
    day_key_ttl,
    utc_now,
)
from usage.models import QuotaCounter, QuotaReservation
from usage.services.records import (
    quota_alert_fire,
    usage_record_store,
    usage_records_store_batch,
)

if TYPE_CHECKING:
    import redis

logger = logging.getLogger("flowmatik.usage")


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


# An item that can never be stored (malformed, or its user is gone) goes to a
# dead-letter list instead of blocking every later batch; anything else (the
# database is down) propagates and the batch is retried by the next run.
_POISON = (
    ValueError,
    KeyError,
    TypeError,
    IntegrityError,
    ObjectDoesNotExist,
)


def _apply_safely(client: "redis.Redis", item: str) -> None:
    try:
        _apply_buffered(item)
    except _POISON:
        logger.exception("Unstorable usage event moved to the dead-letter list")
        client.rpush(quota_redis.dead_letter_key(), item)


def _apply_batch(client: "redis.Redis", items: list[str]) -> None:
    """Usage records in one bulk transaction (most were stored already by the
    web processes' background writers: skipped by key); alerts, and a batch
    that cannot be stored whole, one by one."""
    usage: list[dict[str, Any]] = []
    one_by_one: list[str] = []
    for item in items:
        try:
            payload = json.loads(item)
        except ValueError:
            one_by_one.append(item)
            continue
        if isinstance(payload, dict) and payload.get("kind") == "usage":
            usage.append(payload)
        else:
            one_by_one.append(item)
    if usage:
        try:
            usage_records_store_batch(payloads=usage)
        except _POISON:
            one_by_one = items
    for item in one_by_one:
        _apply_safely(client, item)


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
            # The client decodes responses (`decode_responses=True`): str items.
            items = cast(
                list[str],
                leftovers
                or take(
                    keys=[quota_redis.events_key(), quota_redis.processing_key()],
                    args=[batch_size],
                ),
            )
            leftovers = []
            if not items:
                break
            _apply_batch(client, items)
            client.delete(quota_redis.processing_key())
            done += len(items)
    finally:
        if client.get(lock) == token:
            client.delete(lock)
    return done


SETTLED_RESERVATION_KEEP_DAYS = 2
COUNTER_KEEP_DAYS = 7


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
    # Housekeeping of the database fallback's own state (analytics keep the rollups).
    QuotaReservation.objects.filter(
        settled_at__lt=now - timedelta(days=SETTLED_RESERVATION_KEEP_DAYS)
    ).delete()
    QuotaCounter.objects.filter(
        day__lt=(now - timedelta(days=COUNTER_KEEP_DAYS)).date()
    ).delete()
    if freed:
        logger.info("Swept dead quota reservations", extra={"count": freed})
    return freed


def _redis_sweep(now: datetime) -> int:
    client = quota_redis.sync_client()
    settle = client.register_script(quota_redis.SETTLE_LUA)
    freed = 0
    # The client decodes responses (`decode_responses=True`): str members.
    expired = cast(
        list[str],
        client.zrangebyscore(
            quota_redis.reservations_key(), "-inf", now.timestamp(), start=0, num=1000
        ),
    )
    for rid in expired:
        uid, day_text = cast(
            list[str | None],
            client.hmget(quota_redis.reservation_key(rid), "uid", "day"),
        )
        if uid is None:
            client.zrem(quota_redis.reservations_key(), rid)
            continue
        day_text = cast(str, day_text)  # written with `uid` in the same HSET
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
