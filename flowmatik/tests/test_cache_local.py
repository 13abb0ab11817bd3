"""Per-process copies of the cache entries read on the event loop: served without
a Redis round trip, and dropped as soon as Redis announces a change."""

import asyncio
import time

import pytest
import redis
from django.core.cache import cache

from flowmatik import cache_local
from flowmatik.acache import acache_get_many, acache_reset
from flowmatik.testing.platform import wait_for

pytestmark = pytest.mark.redis


@pytest.fixture
def tracked(redis_url, settings):
    """The cache on the test's Redis, with copies on and the listener subscribed."""
    if not isinstance(cache._connections[cache._alias], cache_local.RedisCache):
        pytest.skip("the Django cache is Redis only with REDIS_URL")
    settings.CACHE_LOCAL_COPY_SECONDS = 30
    settings.CACHE_LOCAL_PING_SECONDS = 0.2
    acache_reset()
    asyncio.run(acache_get_many(["cache-local:warm"]))  # starts the listener
    wait_for(cache_local.copies_listening, timeout=5, what="the listener")
    yield redis.Redis.from_url(redis_url)
    acache_reset()


@pytest.fixture
def mgets(monkeypatch) -> list[list[str]]:
    """The keys of each MGET the async cache reads send."""
    import redis.asyncio.client as async_client

    sent: list[list[str]] = []
    real = async_client.Redis.mget

    async def spy(self, keys, *args):
        sent.append(list(keys))
        return await real(self, keys, *args)

    monkeypatch.setattr(async_client.Redis, "mget", spy)
    return sent


def _read(*keys: str) -> dict:
    return asyncio.run(acache_get_many(list(keys)))


def _no_round_trip(mgets: list, *keys: str) -> bool:
    before = len(mgets)
    _read(*keys)
    return len(mgets) == before


def test_a_read_after_a_read_is_served_from_the_copies(tracked, mgets):
    cache.set("cache-local:a", {"plan": "pro"})
    cache.delete("cache-local:absent")
    # A read that Redis's announcement of those writes overtakes is not kept; a
    # read after it is.
    wait_for(
        lambda: _no_round_trip(mgets, "cache-local:a", "cache-local:absent"),
        timeout=3,
        what="a read served from the copies",
    )
    mgets.clear()

    found = _read("cache-local:a", "cache-local:absent")

    assert found == {"cache-local:a": {"plan": "pro"}}  # the value, and the miss
    assert mgets == []


def test_a_write_by_this_process_is_read_back_before_redis_announces_it(
    tracked, mgets, monkeypatch
):
    cache.set("cache-local:b", 1)
    wait_for(lambda: _no_round_trip(mgets, "cache-local:b"), timeout=3, what="copy")

    def deaf(self, timeout=0):  # the listener hears nothing for now
        time.sleep(timeout)
        return False

    monkeypatch.setattr(redis.connection.AbstractConnection, "can_read", deaf)

    cache.set("cache-local:b", 2)
    assert _read("cache-local:b") == {"cache-local:b": 2}
    cache.set_many({"cache-local:b": 3})
    assert _read("cache-local:b") == {"cache-local:b": 3}
    cache.delete_many(key for key in ["cache-local:b"])
    assert _read("cache-local:b") == {}


def test_a_write_by_another_process_drops_the_copy_within_moments(tracked, mgets):
    cache.set("cache-local:c", "old")
    wait_for(lambda: _no_round_trip(mgets, "cache-local:c"), timeout=3, what="copy")
    full_key = cache.client.make_key("cache-local:c")
    other = tracked  # a client of its own, as another process's
    other.delete(full_key)
    started = time.monotonic()

    wait_for(lambda: _read("cache-local:c") == {}, timeout=2, what="the change")

    assert time.monotonic() - started < 0.5


def test_no_copy_is_served_while_the_listener_is_down(tracked, mgets):
    cache.set("cache-local:d", "v")
    wait_for(lambda: _no_round_trip(mgets, "cache-local:d"), timeout=3, what="copy")
    mgets.clear()

    tracked.client_kill_filter(_id=cache_local.tracking_client_id)
    wait_for(
        lambda: not cache_local.copies_listening(), timeout=3, what="the listener down"
    )
    _read("cache-local:d")
    assert len(mgets) == 1  # the copy was dropped with the connection
    wait_for(cache_local.copies_listening, timeout=5, what="the listener back")
    # copies again once Redis's changes are heard again
    wait_for(lambda: _no_round_trip(mgets, "cache-local:d"), timeout=3, what="copy")


def test_a_read_in_flight_across_a_change_is_not_kept(tracked):
    backend = cache._connections[cache._alias]
    full_key = str(backend.client.make_key("cache-local:e"))
    _found, generation = cache_local.copies_get(backend, [full_key])
    cache_local.copies_forget([full_key])  # a change announced meanwhile

    cache_local.copies_put(backend, generation, {full_key: b"stale"})

    assert cache_local.copies_get(backend, [full_key])[0] == {}


def test_copies_are_off_with_zero_seconds(tracked, settings, mgets):
    settings.CACHE_LOCAL_COPY_SECONDS = 0
    cache.set("cache-local:f", 1)
    _read("cache-local:f")
    _read("cache-local:f")
    assert len(mgets) == 2
