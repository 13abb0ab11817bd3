"""The redis.asyncio clients of the event loop's hot path (quota scripts in
`usage.quota_redis`, cache reads in `flowmatik.acache`): one bounded pool each.

redis-py's default asyncio pool fails a command at once with `MaxConnectionsError`
once 100 connections are in use. Under a burst of concurrent AI calls that read as
Redis being down (and started the quota failover hold: minutes of 503s). Here a
pool holds up to `REDIS_ASYNC_MAX_CONNECTIONS` and a command past it waits for a
free connection for a bounded time; if none frees up, `pool_exhausted` tells the
caller it met a busy process, not an outage.
"""

from typing import Any

import redis
import redis.asyncio as aredis
from django.conf import settings


def async_client(url: str, *, wait_seconds: float, **kwargs: Any) -> aredis.Redis:
    """A client whose pool holds at most `REDIS_ASYNC_MAX_CONNECTIONS` connections;
    a command waits up to `wait_seconds` for one."""
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.REDIS_ASYNC_MAX_CONNECTIONS,
        timeout=wait_seconds,
        **kwargs,
    )
    return aredis.Redis(connection_pool=pool)


def pool_exhausted(exc: BaseException) -> bool:
    """Every connection of the pool was in use for longer than the wait."""
    if isinstance(exc, redis.exceptions.MaxConnectionsError):
        return True
    # BlockingConnectionPool raises "No connection available." from its timeout
    return isinstance(exc, redis.ConnectionError) and isinstance(
        exc.__cause__, TimeoutError
    )
