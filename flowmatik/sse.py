"""Server-Sent Events for the streamed HTTP responses: frames, headers, keep-alive."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpResponse

from flowmatik.event_relay import EventRelay

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
) -> AsyncIterator[list]:
    """Relay `events` in batches (`flowmatik.event_relay`): each batch is every
    event that arrived since the last one (at least one, sent at once: never held
    back to fill a batch), an empty batch when none came for `interval` seconds
    (send a `: ping`).

    Proxies close idle connections; a comment line every SSE_KEEPALIVE_SECONDS
    keeps a long wait for the first token open. Events already waiting when the
    response is ready again leave as one body (one send, one write): a loaded
    process catches up instead of paying a send per event. Closing this iterator
    cancels the read of `events`, which reaches the chat stream like a client
    disconnect.
    """
    interval = SSE_KEEPALIVE_SECONDS if interval is None else interval
    relay = EventRelay(events)
    loop = relay.loop
    idle_since = loop.time()
    timer: asyncio.TimerHandle | None = None

    def tick() -> None:
        # One timer per stream, re-armed as it fires (not a timeout per event).
        nonlocal timer
        due = idle_since + interval
        if loop.time() >= due:
            relay.wake()  # nothing came: a ping
            due = loop.time() + interval
        timer = loop.call_at(due, tick)

    timer = loop.call_at(idle_since + interval, tick)
    try:
        while True:
            await relay.wait()
            batch = relay.take()
            if batch:
                idle_since = loop.time()
                yield batch
            elif relay.finished:
                relay.raise_error()
                return
            elif loop.time() >= idle_since + interval:
                idle_since = loop.time()
                yield []
    finally:
        if timer is not None:
            timer.cancel()
        await relay.close()
