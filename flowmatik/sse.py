"""Server-Sent Events for the streamed HTTP responses: frames, headers, keep-alive."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

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


async def with_keepalive(
    events: AsyncIterator, interval: float | None = None
) -> AsyncIterator:
    """Relay `events`, yielding None (send a `: ping`) when one is slow to come.

    Proxies close idle connections; a comment line every SSE_KEEPALIVE_SECONDS
    keeps a long wait for the first token open. Closing this iterator cancels the
    pending read, which reaches the chat stream like a client disconnect.
    """
    interval = SSE_KEEPALIVE_SECONDS if interval is None else interval
    pending = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=interval)
            if not done:
                yield None
                continue
            task, pending = pending, None
            try:
                event = task.result()
            except StopAsyncIteration:
                return
            yield event
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
