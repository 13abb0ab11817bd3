"""Push events to WebSocket clients, always after the surrounding transaction commits.

Workers, webhook handlers and services call `push_to_user` / `push_broadcast`; the
notification consumer relays the event to the socket. Consumers never push their own
writes. A push that the channel layer refuses (over capacity) is counted, not raised:
the event is already stored, so the client can fetch it later.

Slow clients: each socket's channel holds at most `CHANNELS_CAPACITY` undelivered
messages for `CHANNELS_EXPIRY_SECONDS`. A socket whose client stops reading blocks its
consumer, its channel fills, and further pushes to it are dropped and counted
(`realtime_metrics()["dropped"]`); the stored notification stays fetchable through
`GET /api/notifications?since=`. The two channel layer classes below are the stock
layers with one change: `group_send` reports how many channels were over capacity.

Connections: every process counts its open sockets in Redis under its own key
(`INCR`/`DECR`, refreshed by a heartbeat, expiring after `WS_CONNECTION_TTL_SECONDS`),
so a process that dies stops counting once its key expires.
"""

import asyncio
import logging
import os
import socket
import time
import weakref
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger("flowmatik.realtime")

BROADCAST_GROUP = "broadcast"
EVENT_HANDLER = "notify.event"  # consumer method `notify_event`

DROPPED_KEY = "realtime:dropped"
FAILED_KEY = "realtime:push_failed"


def user_group(user_id: object) -> str:
    return f"user.{user_id}"


def api_key_group(api_key_id: object) -> str:
    """Every socket opened with this API key (closed when the key is revoked)."""
    return f"auth.key.{api_key_id}"


def auth_user_group(user_id: object) -> str:
    """Every socket of this user, whatever it opened with (closed when the account
    is deactivated, its password changed, its admin role removed, its session
    logged out)."""
    return f"auth.user.{user_id}"


AUTH_REVOKED_HANDLER = "auth.revoked"  # consumer method `auth_revoked`
REASON_KEY_REVOKED = "api key revoked"
REASON_DEACTIVATED = "account deactivated"
REASON_PASSWORD_CHANGED = "password changed"  # noqa: S105 - a close reason
REASON_LOGGED_OUT = "logged out"
REASON_ROLE_CHANGED = "role changed"


# --- Counting drops --------------------------------------------------------------


def _incr(key: str, amount: int) -> None:
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key, amount)
    except Exception:  # a metric must never break a push
        logger.warning("Realtime metric not recorded", extra={"metric": key})


async def _aincr(key: str, amount: int) -> None:
    try:
        await cache.aadd(key, 0, timeout=None)
        await cache.aincr(key, amount)
    except Exception:
        logger.warning("Realtime metric not recorded", extra={"metric": key})


async def _record_drops(group: str, dropped: int) -> None:
    if dropped:
        logger.warning(
            "Realtime push dropped: client too slow",
            extra={"group": group, "dropped": dropped},
        )
        await _aincr(DROPPED_KEY, dropped)


class CountingInMemoryChannelLayer(InMemoryChannelLayer):
    """The in-memory layer, counting the channels a group message did not fit in."""

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"  # noqa: S101
        self.require_valid_group_name(group)
        self._clean_expired()
        dropped = 0
        for channel in list(self.groups.get(group, {})):
            try:
                await self.send(channel, message)
            except ChannelFull:
                dropped += 1
        await _record_drops(group, dropped)
        return dropped


class CountingRedisChannelLayer(RedisChannelLayer):
    """channels-redis's layer, counting the channels a group message did not fit in.

    The body is `RedisChannelLayer.group_send` (channels-redis 4.3), which computes the
    over-capacity count and only logs it; here it is returned and counted.
    """

    async def group_send(self, group, message):
        assert self.require_valid_group_name(group), "Group name not valid"  # noqa: S101
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        await connection.zremrangebyscore(
            key, min=0, max=int(time.time()) - self.group_expiry
        )
        channel_names = [x.decode("utf8") for x in await connection.zrange(key, 0, -1)]
        keys_by_connection, message_by_key, capacity_by_key = (
            self._map_channel_keys_to_connection(channel_names, message)
        )
        dropped = 0
        for index, channel_keys in keys_by_connection.items():
            connection = self.connection(index)
            pipe = connection.pipeline()
            for channel_key in channel_keys:
                pipe.zremrangebyscore(
                    channel_key, min=0, max=int(time.time()) - int(self.expiry)
                )
            await pipe.execute()
            args = [message_by_key[k] for k in channel_keys]
            args += [capacity_by_key[k] for k in channel_keys]
            args += [time.time(), self.expiry]
            dropped += await connection.eval(
                _GROUP_SEND_LUA, len(channel_keys), *channel_keys, *args
            )
        await _record_drops(group, dropped)
        return dropped


_GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        local queued = redis.call('ZCOUNT', KEYS[i], '-inf', '+inf')
        if queued < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


# --- Pushing ---------------------------------------------------------------------


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": EVENT_HANDLER, "event": event}
    try:
        async_to_sync(layer.group_send)(group, message)
    except ChannelFull:  # a layer that raises instead of counting
        logger.warning("Realtime push dropped: channel full", extra={"group": group})
        _incr(DROPPED_KEY, 1)
    except Exception:
        logger.exception("Realtime push failed", extra={"group": group})
        _incr(FAILED_KEY, 1)


def push_to_user(*, user_id: object, event: dict[str, Any]) -> None:
    """Send `event` to every socket of `user_id` once the transaction commits."""
    transaction.on_commit(lambda: _send(user_group(user_id), event))


def _close_after_commit(group: str, message: dict[str, Any]) -> None:
    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            logger.exception("Socket revocation not sent", extra={"group": group})

    transaction.on_commit(send)


def sockets_close_for_api_key(*, api_key_id: object) -> None:
    """Close (4401) every socket opened with `api_key_id`, once the transaction
    commits; other processes' sockets too when the channel layer is shared."""
    _close_after_commit(
        api_key_group(api_key_id),
        {"type": AUTH_REVOKED_HANDLER, "reason": REASON_KEY_REVOKED},
    )


def sockets_close_for_user(
    *,
    user_id: object,
    reason: str,
    session_tag: str | None = None,
    keep_session_tag: str | None = None,
    keep_api_keys: bool = False,
) -> None:
    """Close (4401, `reason`) the open sockets of `user_id` once the transaction
    commits, in every process sharing the channel layer.

    `session_tag` (`accounts.services.ws_session_tag`): only the sockets opened with
    that portal session's tickets (a session log-out). `keep_session_tag`: all but
    that session's (a password change from the portal keeps its own page's
    sockets). `keep_api_keys`: sockets opened with an API key stay (the key itself
    still works).
    """
    message: dict[str, Any] = {"type": AUTH_REVOKED_HANDLER, "reason": reason}
    if session_tag:
        message["session"] = session_tag
    if keep_session_tag:
        message["keep_session"] = keep_session_tag
    if keep_api_keys:
        message["keep_api_keys"] = True
    _close_after_commit(auth_user_group(user_id), message)


def push_broadcast(*, event: dict[str, Any]) -> None:
    """Send `event` to every connected socket once the transaction commits."""
    transaction.on_commit(lambda: _send(BROADCAST_GROUP, event))


# --- Counting connections --------------------------------------------------------

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}"
_local_connections = 0
_redis_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]" = (
    weakref.WeakKeyDictionary()
)
_heartbeats: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = (
    weakref.WeakKeyDictionary()
)


def _connections_prefix() -> str:
    return f"{settings.WS_CONNECTIONS_KEY_PREFIX}:"


def _process_key() -> str:
    return f"{_connections_prefix()}{PROCESS_ID}"


def _async_redis():
    """One asyncio Redis client per event loop (a client is bound to its loop)."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    client = _redis_clients.get(loop)
    if client is None:
        from redis import asyncio as aioredis

        client = aioredis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
        )
        _redis_clients[loop] = client
    return client


async def _publish(delta: int) -> None:
    client = _async_redis()
    if client is None:
        return
    key, ttl = _process_key(), settings.WS_CONNECTION_TTL_SECONDS
    try:
        pipe = client.pipeline(transaction=True)
        pipe.incrby(key, delta) if delta >= 0 else pipe.decrby(key, -delta)
        pipe.expire(key, ttl)
        await pipe.execute()
    except Exception:
        logger.warning("Connection count not published", extra={"delta": delta})


async def connection_count_publish() -> None:
    """Re-assert this process's count in Redis, healing any drift (a DECR that
    arrived after the key expired, a failed write), and renew its TTL."""
    client = _async_redis()
    if client is None:
        return
    try:
        await client.set(
            _process_key(), _local_connections, ex=settings.WS_CONNECTION_TTL_SECONDS
        )
    except Exception:
        logger.warning("Connection heartbeat failed")


async def _heartbeat() -> None:
    while True:
        await asyncio.sleep(settings.WS_CONNECTION_HEARTBEAT_SECONDS)
        if not settings.REDIS_URL:
            return
        await connection_count_publish()


async def connection_opened() -> None:
    """Count one more open WebSocket in this process (call from `connect`)."""
    global _local_connections
    _local_connections += 1
    await _publish(1)
    loop = asyncio.get_running_loop()
    task = _heartbeats.get(loop)
    if settings.REDIS_URL and (task is None or task.done()):
        _heartbeats[loop] = loop.create_task(_heartbeat())


async def connection_closed() -> None:
    """Count one open WebSocket fewer (call from `disconnect`, once per open)."""
    global _local_connections
    _local_connections = max(0, _local_connections - 1)
    await _publish(-1)


def connection_counts() -> dict[str, Any]:
    """Open sockets in this process, in every live process, and per process."""
    per_process: dict[str, int] = {PROCESS_ID: _local_connections}
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
        )
        try:
            prefix = _connections_prefix()
            keys = list(client.scan_iter(match=f"{prefix}*", count=500))
            values = client.mget(keys) if keys else []
            per_process = {
                key.decode()[len(prefix) :]: max(0, int(value))
                for key, value in zip(keys, values, strict=True)
                if value is not None
            }
        finally:
            client.close()
    return {
        "this_process": _local_connections,
        "total": sum(per_process.values()),
        "processes": per_process,
    }


def realtime_metrics() -> dict[str, Any]:
    """Connections plus pushes dropped for slow clients and pushes that failed."""
    return {
        "connections": connection_counts(),
        "dropped": int(cache.get(DROPPED_KEY) or 0),
        "push_failed": int(cache.get(FAILED_KEY) or 0),
    }
