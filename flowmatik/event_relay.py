"""One task reading a stream of events ahead of the response that sends them.

A streamed response (SSE, the chat WebSocket) must keep doing things while the
chat is silent (a keep-alive ping, a coalesced frame's deadline), so the chat is
read by a task of its own. `EventRelay` is that task with a deque: the response
`take()`s every event that arrived since it last looked, all at once, so a loaded
process sends what queued meanwhile together instead of paying a wake-up, a task
and a send per event. Nothing is held back: a response that finds one event sends
it at once.

The reader runs at most `STREAM_READ_AHEAD_EVENTS` events ahead of the response,
then waits for them to be taken: a client that does not read still holds the chat
(and the provider) back. Closing the relay cancels the reader, which reaches the
chat stream like a client disconnect (the partial answer is saved and settled);
the stream is closed in the reader's task, which iterated it.
"""

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings


class EventRelay:
    """Reads `events` in a task of its own; see the module docstring."""

    def __init__(self, events: AsyncIterator) -> None:
        self.loop = asyncio.get_running_loop()
        self.items: collections.deque = collections.deque()
        self.finished = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future | None = None  # the response, for items
        self._room: asyncio.Future | None = None  # the reader, for room
        self._ahead = max(1, settings.STREAM_READ_AHEAD_EVENTS)
        self._task = self.loop.create_task(self._read(events))

    async def _read(self, events: AsyncIterator) -> None:
        items = self.items
        try:
            async for event in events:
                items.append(event)
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if len(items) >= self._ahead:
                    self._room = self.loop.create_future()
                    await self._room
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = exc
        finally:
            self.finished = True
            self.wake()
            aclose = getattr(events, "aclose", None)
            if aclose is not None:  # in this task, which iterated it
                await aclose()

    def wake(self) -> None:
        """End the response's `wait()` now (a deadline of its own is due)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until an event arrives, the stream ends, or `wake()`; at once if an
        event is already there."""
        if self.items or self.finished:
            return
        self._waiter = waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def take(self) -> list[Any]:
        """Every event that arrived since the last `take()` (maybe none)."""
        batch = list(self.items)
        self.items.clear()
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)
        return batch

    def raise_error(self) -> None:
        """Once finished: raise what the stream raised, if anything."""
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await self._task
