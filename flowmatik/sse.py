"""Server-Sent Events for the streamed HTTP responses: frames, headers, keep-alive."""

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.http import HttpResponse

SSE_KEEPALIVE_SECONDS = 15.0
SSE_PING = b": ping\n\n"


def sse_frame(event: str, data: dict[str, Any]) -> bytes:
    """One `event:`/`data:` frame with `data` as JSON."""
    payload = json.dumps(data, ensure_ascii=False, default=str)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def sse_headers(response: HttpResponse) -> HttpResponse:
    """Mark `response` as an event stream no cache or proxy may buffer."""
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class _Relay:
    """One task reading `events` into a deque for the response's task.

    The reader runs ahead of the response by at most `STREAM_READ_AHEAD_EVENTS`
    events (then waits for them to be taken: the client's pace still holds the
    provider back); the response takes everything that arrived whenever it wakes. A ping
    is due when the response has waited `interval` seconds with nothing to send:
    one timer per stream, re-armed as it fires, instead of a timeout per event.
    """

    def __init__(self, events: AsyncIterator, interval: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.items: collections.deque = collections.deque()
        self.interval = interval
        self.finished = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future | None = None  # the response waiting for items
        self.room: asyncio.Future | None = None  # the reader waiting for room
        self.idle_since = self.loop.time()
        self.timer = self.loop.call_later(interval, self._tick)
        self.ahead = max(1, settings.STREAM_READ_AHEAD_EVENTS)
        self.task = self.loop.create_task(self._read(events))

    async def _read(self, events: AsyncIterator) -> None:
        items = self.items
        try:
            async for event in events:
                items.append(event)
                waiter = self.waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if len(items) >= self.ahead:
                    self.room = self.loop.create_future()
                    await self.room
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
        finally:
            self.finished = True
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _tick(self) -> None:
        waiter, now = self.waiter, self.loop.time()
        due = self.idle_since + self.interval
        if waiter is not None and not waiter.done() and now >= due:
            waiter.set_result(None)  # nothing came: a ping
            due = now + self.interval
        self.timer = self.loop.call_at(max(due, now + 0.001), self._tick)

    def take(self) -> list:
        batch = list(self.items)
        self.items.clear()
        room = self.room
        if room is not None and not room.done():
            room.set_result(None)
        self.idle_since = self.loop.time()
        return batch

    async def close(self) -> None:
        self.timer.cancel()
        if not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await self.task


async def with_keepalive(
    events: AsyncIterator, interval: float | None = None
) -> AsyncIterator[list]:
    """Relay `events` in batches: each batch is every event that arrived since the
    last one (at least one, sent at once: never held back to fill a batch), an
    empty batch when none came for `interval` seconds (send a `: ping`).

    Proxies close idle connections; a comment line every SSE_KEEPALIVE_SECONDS
    keeps a long wait for the first token open. Events already waiting when the
    response is ready again leave as one body (one send, one write): a loaded
    process catches up instead of paying a send per event. Closing this iterator
    cancels the read of `events`, which reaches the chat stream like a client
    disconnect.
    """
    relay = _Relay(events, SSE_KEEPALIVE_SECONDS if interval is None else interval)
    try:
        while True:
            if not relay.items and not relay.finished:
                relay.waiter = waiter = relay.loop.create_future()
                try:
                    await waiter
                finally:
                    relay.waiter = None
            if relay.items:
                yield relay.take()
            elif relay.finished:
                if relay.error is not None:
                    raise relay.error
                return
            else:
                relay.idle_since = relay.loop.time()
                yield []
    finally:
        await relay.close()
