"""Database work on the shared worker threads (`sync_to_async(thread_sensitive=False)`).

Django closes a request's broken connection when the request ends, but only in the
request's own thread. The shared pool threads that the hot AI path uses for a cache
miss keep their connection across requests, so one connection the database dropped
(killed, restarted, timed out) would fail every later call on that thread.
`in_worker_thread(fn)` drops such a connection right after the call that found it
broken; the next call on the thread connects again. With `retry_dropped=True` (for
work that can run twice: reads, an INSERT guarded by a unique key) the call that
found it broken runs once more, on a new connection, instead of failing: a
connection the database dropped while the thread was idle (restart, `wait_timeout`,
a KILL) then costs the caller nothing.
"""

import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, sync_to_async
from django.db import InterfaceError, OperationalError, connections

P = ParamSpec("P")
R = TypeVar("R")


def drop_broken_connections() -> None:
    """Close this thread's connections that saw an error and no longer answer."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            if conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()


def drop_connection() -> None:
    """Close this thread's default connection whatever its state (after a call
    failed on it): the next query connects again."""
    from django.db import connection

    with contextlib.suppress(Exception):
        connection.close()
    if not connection.in_atomic_block:
        connection.connection = None


def _dropped_broken_connection() -> bool:
    """Close this thread's connections that failed and no longer answer (outside
    a transaction); whether one was closed."""
    dropped = False
    for conn in connections.all(initialized_only=True):
        if (
            conn.connection is not None
            and conn.errors_occurred
            and not conn.in_atomic_block
            and not conn.is_usable()
        ):
            conn.close()
            dropped = True
    return dropped


def in_worker_thread(
    fn: Callable[P, R], *, retry_dropped: bool = False
) -> Callable[P, Awaitable[R]]:
    """`sync_to_async(fn, thread_sensitive=False)` that leaves no broken connection
    behind on the pool thread (and, with `retry_dropped`, runs `fn` once more on a
    new connection when the one it used had been dropped)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if not (retry_dropped and _dropped_broken_connection()):
                raise
            return fn(*args, **kwargs)
        finally:
            drop_broken_connections()

    return sync_to_async(run, thread_sensitive=False)


def in_caller_or_worker_thread(
    fn: Callable[P, R], *, retry_dropped: bool = False
) -> Callable[P, Awaitable[R]]:
    """Run sync `fn` from async code where a sync view's code would run.

    Under a sync caller (a WSGI server, Django's test client: async code entered
    through `async_to_sync`), in that caller's thread, with its connection and inside
    its transaction, as asgiref's thread-sensitive mode does. Under an ASGI server,
    on the shared worker threads as `in_worker_thread`: their database connections
    stay open across requests, where a request's own thread-sensitive thread would
    start a thread and open (and close) a connection for every request.
    """
    in_caller = sync_to_async(fn)
    in_worker = in_worker_thread(fn, retry_dropped=retry_dropped)

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # asgiref's own test for "a parent sync thread above somewhere"
        if getattr(AsyncToSync.executors, "current", None) is not None:
            return await in_caller(*args, **kwargs)
        return await in_worker(*args, **kwargs)

    return run
