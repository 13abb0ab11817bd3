"""Fixtures of the usage tests: run the quota engine on Redis and on the database."""

import pytest
from asgiref.sync import async_to_sync

from usage import quota_redis, services
from usage.types import CallStatus, UsageEvent


@pytest.fixture(params=["database", "redis"])
def backend(request, settings) -> str:
    """Each test using it runs on the database fallback and (with REDIS_URL) Redis."""
    if request.param == "redis":
        settings.REDIS_URL = request.getfixturevalue("redis_url")
    else:
        settings.REDIS_URL = ""
    return request.param


def admit(user_id: int, *, prompt: int = 10, max_tokens: int = 20, ip=None, **kw):
    return async_to_sync(services.usage_admit)(
        user_id=user_id,
        ip=ip,
        prompt_tokens=prompt,
        max_tokens=max_tokens,
        endpoint=kw.pop("endpoint", "chat"),
        **kw,
    )


def make_event(
    reservation, *, status=CallStatus.SUCCESS, prompt=10, completion=5, **kw
):
    return UsageEvent(
        request_id=kw.pop("request_id", f"req-{reservation.id[:8]}"),
        user_id=reservation.user_id,
        endpoint=kw.pop("endpoint", "chat"),
        model=kw.pop("model", "demo-small"),
        provider=kw.pop("provider", "demo"),
        status=status,
        prompt_tokens=prompt,
        completion_tokens=completion,
        **kw,
    )


def settle(reservation, event=None, **kw):
    event = event or make_event(reservation, **kw)
    return async_to_sync(services.usage_settle)(reservation=reservation, event=event)


def preload(user_id: int, *, requests: int = 0, tokens: int = 0, day=None) -> None:
    """Put the day's counters where a test needs them, on the active backend."""
    from django.conf import settings

    from usage.daily_limits import utc_today
    from usage.models import QuotaCounter

    day = day or utc_today()
    if settings.REDIS_URL:
        quota_redis.sync_client().hset(
            quota_redis.quota_key(user_id, day),
            mapping={"req": requests, "used": tokens, "res": 0},
        )
    else:
        QuotaCounter.objects.update_or_create(
            user_id=user_id,
            day=day,
            defaults={"requests": requests, "tokens_used": tokens},
        )


def drain() -> int:
    """Store what the Redis settle path buffered (no-op on the database path)."""
    return services.usage_events_drain()


def run_in_threads(count: int, target) -> list:
    """Start `count` threads at once (barrier); each returns target()'s outcome."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target()
        except Exception as exc:  # the outcome under test: admitted or refused
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
