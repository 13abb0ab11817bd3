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

A request that knows which keys it will read later declares them up front with
`acache_read_ahead(keys, user_keys=...)`: the next read fetches them in the same
MGET, and each later read of such a key is served from what that MGET found (once:
a second read of the key goes to Redis again). `user_keys(user_id)` names the keys
that depend on the caller, joined to the first read after `acache_read_ahead_user`
(authentication knows the caller, or foresees it: an API key this process has seen
before names its owner, so the owner's keys ride with the key's own read). The /v1
hot path reads identity, plan, quota override, catalogue version and circuit state
in one round trip this way (two the first time a process sees a key), and with
this process's copies of those entries (`flowmatik.cache_local`, kept exact by
Redis's invalidation pushes) in none.
"""

import asyncio
import weakref
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aredis
from django.core.cache import caches
from django_redis.cache import RedisCache
from redis.exceptions import RedisError

from flowmatik.cache_local import copies_get, copies_put, copies_reset
from flowmatik.redis_async import async_client

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
        client = async_client(
            location,
            wait_seconds=options.get("SOCKET_TIMEOUT") or 1.0,
            socket_connect_timeout=options.get("SOCKET_CONNECT_TIMEOUT"),
            socket_timeout=options.get("SOCKET_TIMEOUT"),
            health_check_interval=30,
        )
        per_loop[location] = client
    return client


_ABSENT = object()


@dataclass
class _ReadAhead:
    pending: set[str]  # declared, not read yet
    user_keys: Callable[[int], Collection[str]] | None
    found: dict[str, Any] = field(default_factory=dict)  # read, not served yet
    users: set[int] = field(default_factory=set)  # whose keys were declared


_ahead: ContextVar[_ReadAhead | None] = ContextVar("acache_read_ahead", default=None)


@contextmanager
def acache_read_ahead(
    keys: Collection[str],
    *,
    user_keys: Callable[[int], Collection[str]] | None = None,
) -> Iterator[None]:
    """For the block: `keys` (and `user_keys(user_id)` once the caller is known)
    join the next Redis read instead of costing a round trip each."""
    token = _ahead.set(_ReadAhead(set(keys), user_keys))
    try:
        yield
    finally:
        _ahead.reset(token)


def acache_read_ahead_user(user_id: int, *, also: Collection[str] = ()) -> None:
    """The caller is known (or foreseen): its keys (see `acache_read_ahead`) and
    `also` join the next read. Once per user: declaring the same caller again adds
    nothing (a foreseen caller's keys may already have been read)."""
    ahead = _ahead.get()
    if ahead is None or user_id in ahead.users:
        return
    ahead.users.add(user_id)
    if ahead.user_keys is not None:
        ahead.pending.update(ahead.user_keys(user_id))
    ahead.pending.update(also)


async def _mget(backend: RedisCache, keys: list[str]) -> dict[str, Any] | None:
    """The values found (absent: a miss); None when Redis failed and
    IGNORE_EXCEPTIONS makes that a miss."""
    codec = backend.client  # django-redis' key format, serializer and compressor
    made = {str(codec.make_key(key)): key for key in keys}
    raw, generation = copies_get(backend, made)  # this process's exact copies
    wanted = [key for key in made if key not in raw]
    if wanted:
        try:
            values = await _client(backend).mget(wanted)
        except (TimeoutError, RedisError, OSError):
            if backend._ignore_exceptions:  # IGNORE_EXCEPTIONS: a miss, as get_many
                if backend._log_ignored_exceptions and backend.logger is not None:
                    backend.logger.exception("Exception ignored")
                return None
            raise  # as django-redis: the Redis error itself
        fetched = dict(zip(wanted, values, strict=True))
        copies_put(backend, generation, fetched)
        raw.update(fetched)
    return {
        made[key]: codec.decode(value)
        for key, value in raw.items()
        if value is not None
    }


async def acache_get_many(keys: Collection[str]) -> dict[str, Any]:
    """`cache.get_many(keys)` for async callers: one non-blocking round trip (none
    when every key was read ahead)."""
    backend = caches["default"]
    if not keys:
        return {}
    if not isinstance(backend, RedisCache):
        return backend.get_many(keys)
    ahead = _ahead.get()
    if ahead is None:
        return await _mget(backend, list(keys)) or {}
    served: dict[str, Any] = {}
    wanted: list[str] = []
    for key in keys:
        if key in ahead.found:
            value = ahead.found.pop(key)
            if value is not _ABSENT:
                served[key] = value
        else:
            wanted.append(key)
    if not wanted:
        return served
    extra = [key for key in ahead.pending if key not in wanted]
    ahead.pending.clear()
    fetched = await _mget(backend, wanted + extra)
    if fetched is None:  # Redis failed (a miss): the declared keys are not read
        return served
    for key in extra:
        ahead.found[key] = fetched.get(key, _ABSENT)
    return served | {key: fetched[key] for key in wanted if key in fetched}


def acache_reset() -> None:
    """Forget the clients and the copies (tests that switch Redis)."""
    _clients.clear()
    copies_reset()
