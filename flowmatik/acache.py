"""Reads of the Django cache from the event loop that never block it.

django-redis is a synchronous client: a `cache.get` on the event loop stops every
other request of the process for a Redis round trip. `acache_get_many` reads the
same keys, with django-redis's own key format and decoding, through `redis.asyncio`
(one client per event loop: its connections are bound to the loop). Writes stay
with `cache` (they happen on cache misses, which go to the database anyway).

With another backend (the embedded default's disk cache, local memory in tests)
the read is local and short, so it runs inline. A Redis failure is what the
synchronous read makes of it: a miss with IGNORE_EXCEPTIONS (the database answers),
else the Redis error itself.
"""

import asyncio
import weakref
from collections.abc import Collection
from typing import Any

import redis.asyncio as aredis
from django.core.cache import caches
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

_PerLoop = dict[str, aredis.Redis]  # LOCATION -> client
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PerLoop]" = (
    weakref.WeakKeyDictionary()
)


def _client(backend: RedisCache) -> aredis.Redis:
    loop = asyncio.get_running_loop()
    per_loop = _clients.setdefault(loop, {})
    location = backend._server  # the LOCATION the sync client connects to
    client = per_loop.get(location)
    if client is None:
        options = backend._params.get("OPTIONS", {})
        client = aredis.Redis.from_url(
            location,
            socket_connect_timeout=options.get("SOCKET_CONNECT_TIMEOUT"),
            socket_timeout=options.get("SOCKET_TIMEOUT"),
            health_check_interval=30,
        )
        per_loop[location] = client
    return client


async def acache_get_many(keys: Collection[str]) -> dict[str, Any]:
    """`cache.get_many(keys)` for async callers: one non-blocking round trip."""
    backend = caches["default"]
    if not keys:
        return {}
    if not isinstance(backend, RedisCache):
        return backend.get_many(keys)
    codec = backend.client  # django-redis' key format, serializer and compressor
    made = {codec.make_key(key): key for key in keys}
    try:
        values = await _client(backend).mget(list(made))
    except (TimeoutError, RedisError, OSError):
        if backend._ignore_exceptions:  # IGNORE_EXCEPTIONS: a miss, as get_many
            if backend._log_ignored_exceptions and backend.logger is not None:
                backend.logger.exception("Exception ignored")
            return {}
        raise  # as django-redis: the Redis error itself
    return {
        made[key]: codec.decode(value)
        for key, value in zip(made, values, strict=True)
        if value is not None
    }


def acache_reset() -> None:
    """Forget the clients (tests that switch Redis)."""
    _clients.clear()
