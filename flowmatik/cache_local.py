"""Per-process copies of the Redis cache entries read on the event loop, kept exact
by Redis itself (server-assisted client-side caching, broadcast mode).

`flowmatik.acache` keeps what its reads find (values and misses, as Redis sent
them) and serves the next read of those keys from here without a round trip: a
warm /v1 call then reads its identity, plan, override, catalogue version and
circuit state with no Redis round trip at all.

What keeps a copy true: each process runs one listener thread with a connection
of its own that asks Redis (`CLIENT TRACKING on REDIRECT <itself> BCAST PREFIX
<the cache's key prefix>`) to tell it of every change to any cache key (write,
delete, expiry, eviction, flush) on `__redis__:invalidate`, and drops those keys'
copies. A write from this process drops them at once, in the writing thread
(`LocallyCopiedRedisCache`), so a process always reads its own writes; another
process's write reaches it within Redis's push (a millisecond on loopback), the
same as if the read had been just before the write. Copies are served only while
the listener is subscribed: when its connection fails (or answers no PING for
`3 × CACHE_LOCAL_PING_SECONDS`) every copy is dropped and reads go to Redis until
it is subscribed again. A read that was in flight while a change was announced
is not kept (a generation count). Each copy is also served at most
`CACHE_LOCAL_COPY_SECONDS` after it was read (a bound should a push be lost);
0 turns copies off.
"""

import inspect
import itertools
import logging
import os
import threading
import time
from collections.abc import Collection, Iterable
from typing import Any

import redis
from django.conf import settings
from django_redis.cache import RedisCache
from django_redis.client import DefaultClient

logger = logging.getLogger("flowmatik.cache")

THREAD_NAME = "cache-tracking"
CLIENT_NAME = "flowmatik-cache-tracking"
INVALIDATE_CHANNEL = "__redis__:invalidate"
COPIES_MAX = 20_000
RETRY_SECONDS = 1.0

_lock = threading.Lock()
# full key -> (monotonic time read, raw value or None for a key Redis did not have)
_copies: dict[str, tuple[float, Any]] = {}
# Bumped by every change announced; when each key last changed, and when every key
# last did (a flush, a (re)subscription): a read started before either is not kept
_generation = 0
_changed_at: dict[str, int] = {}
_all_changed_at = 0
_listening: tuple[int, str, int] | None = None  # the listener subscribed now
# (pid, LOCATION, serial) of the running listener; a thread whose own is no longer
# this one stops
_listener: tuple[int, str, int] | None = None
_serial = itertools.count()
tracking_client_id: int | None = None  # the listener's connection, as Redis names it


def _enabled() -> bool:
    return settings.CACHE_LOCAL_COPY_SECONDS > 0


def copies_get(backend: RedisCache, keys: Collection[str]) -> tuple[dict, int]:
    """The usable copies among `keys` (full keys, as made by django-redis) and the
    generation to hand to `copies_put` with what Redis answers for the others."""
    location = backend._server
    if not _enabled():
        return {}, -1
    _listener_ensure(backend)
    with _lock:
        generation = _generation
        if _listening is None or _listening[1] != location:
            return {}, generation
        oldest = time.monotonic() - settings.CACHE_LOCAL_COPY_SECONDS
        found = {}
        for key in keys:
            copy = _copies.get(key)
            if copy is not None and copy[0] > oldest:
                found[key] = copy[1]
        return found, generation


def copies_put(backend: RedisCache, generation: int, values: dict[str, Any]) -> None:
    """Keep what a read found, but the keys announced changed since it started."""
    if not _enabled():
        return
    with _lock:
        if _listening is None or _listening[1] != backend._server:
            return
        if generation < _all_changed_at:
            return
        if len(_copies) + len(values) > COPIES_MAX:
            _copies.clear()
        now = time.monotonic()
        for key, value in values.items():
            if _changed_at.get(key, -1) <= generation:
                _copies[key] = (now, value)


def copies_forget(keys: Iterable[str] | None = None) -> None:
    """Drop the copies of `keys` (full keys; None: all of them)."""
    global _generation
    with _lock:
        if keys is not None and len(_changed_at) < COPIES_MAX:
            _generation += 1
            for key in keys:
                _copies.pop(key, None)
                _changed_at[key] = _generation
            return
        _forget_all_locked()


def _forget_all_locked() -> None:
    global _generation, _all_changed_at
    _generation += 1
    _copies.clear()
    _changed_at.clear()
    _all_changed_at = _generation


def copies_listening() -> bool:
    """Whether this process hears the cache's changes now (copies are served)."""
    return _listening is not None


def copies_reset() -> None:
    """Stop the listener and drop every copy (tests that switch Redis)."""
    global _listener, _listening
    with _lock:
        _listener = None
        _listening = None
    copies_forget()


# --- the listener ---------------------------------------------------------------


def _listener_ensure(backend: RedisCache) -> None:
    global _listener
    wanted = (os.getpid(), backend._server)
    if _listener is not None and _listener[:2] == wanted:
        return
    with _lock:
        if _listener is not None and _listener[:2] == wanted:
            return
        _listener = me = (*wanted, next(_serial))
    prefix = str(backend.client.make_key(""))
    options = backend._params.get("OPTIONS", {})
    threading.Thread(
        target=_listen,
        args=(me, prefix, options.get("SOCKET_CONNECT_TIMEOUT") or 1.0),
        name=THREAD_NAME,
        daemon=True,
    ).start()


def _listen(me: tuple[int, str, int], prefix: str, connect_timeout: float) -> None:
    global _listening, tracking_client_id
    location = me[1]
    failures = 0
    while _listener == me:
        ping = max(0.05, settings.CACHE_LOCAL_PING_SECONDS)
        connection = redis.ConnectionPool.from_url(
            location,
            protocol=2,  # invalidations as pub/sub messages on this connection
            socket_connect_timeout=connect_timeout,
            socket_timeout=3 * ping,
            client_name=CLIENT_NAME,
        ).make_connection()
        try:
            connection.connect()
            connection.send_command("CLIENT", "ID")
            own_id = tracking_client_id = connection.read_response()
            connection.send_command(
                "CLIENT",
                "TRACKING",
                "ON",
                "REDIRECT",
                own_id,
                "BCAST",
                "PREFIX",
                prefix,
            )
            connection.read_response()
            connection.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            connection.read_response()
            with _lock:
                if _listener != me:
                    return
                _listening = me
                # what was read before now is not known to be true (changes were
                # not heard): not kept, and not served
                _forget_all_locked()
            if failures:
                logger.info("Cache copies: hearing Redis's changes again")
            failures = 0
            _hear(connection, me, ping)
        except Exception as exc:  # the thread outlives anything; no copy meanwhile
            failures += 1
            if failures == 1:
                logger.warning(
                    "Cache copies off: Redis's changes cannot be heard",
                    extra={"error": type(exc).__name__},
                )
        finally:
            with _lock:
                if _listening == me:
                    _listening = None
            copies_forget()
            connection.disconnect()
        time.sleep(min(30.0, RETRY_SECONDS * failures))


def _hear(connection: Any, me: tuple[int, str, int], ping: float) -> None:
    """Drop the copies of each key Redis announces; PING when idle, give up when
    Redis stays silent (the connection is then presumed dead)."""
    heard = time.monotonic()
    while _listener == me:
        if connection.can_read(timeout=ping):
            message = connection.read_response()
            heard = time.monotonic()
            if isinstance(message, list) and len(message) == 3:
                kind, _channel, keys = message
                if kind == b"message":
                    copies_forget(
                        None if keys is None else [key.decode() for key in keys]
                    )
            continue
        if time.monotonic() - heard > 3 * ping:
            raise redis.TimeoutError("no answer to PING")
        connection.send_command("PING")


# --- the cache backend: this process's writes drop its copies at once ----------

_KEY_WRITES = (
    "set",
    "add",
    "delete",
    "incr",
    "decr",
    "touch",
    "expire",
    "expire_at",
    "pexpire",
    "pexpire_at",
    "persist",
)
_MANY_WRITES = ("set_many", "delete_many")
_ALL_WRITES = ("clear", "delete_pattern", "incr_version", "decr_version")


def _forgetting(name: str):
    real = getattr(RedisCache, name)
    # django-redis's methods take *args; its client's say what they are
    signature = inspect.signature(getattr(DefaultClient, name, real))

    def method(self, *args, **kwargs):
        keys: list[str] | None = None  # None: every copy
        version = None
        if name not in _ALL_WRITES:
            bound = signature.bind(self, *args, **kwargs)
            if name == "delete_many":  # an iterator would be used up by the write
                bound.arguments["keys"] = list(bound.arguments["keys"])
            args, kwargs = bound.args[1:], bound.kwargs
            version = bound.arguments.get("version")
            keys = (
                [bound.arguments["key"]]
                if name in _KEY_WRITES
                else list(bound.arguments.get("data") or bound.arguments["keys"])
            )
        try:
            return real(self, *args, **kwargs)
        finally:
            copies_forget(
                None
                if keys is None
                else [str(self.client.make_key(key, version=version)) for key in keys]
            )

    method.__name__ = method.__qualname__ = name
    method.__doc__ = real.__doc__
    return method


class LocallyCopiedRedisCache(RedisCache):
    """django-redis's cache whose writes also drop this process's copies of the
    keys written (`flowmatik.cache_local`), before they return."""


for _name in (*_KEY_WRITES, *_MANY_WRITES, *_ALL_WRITES):
    setattr(LocallyCopiedRedisCache, _name, _forgetting(_name))
