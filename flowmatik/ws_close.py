"""Close a WebSocket cleanly when its channel layer (Redis) fails under it.

A consumer's channel layer raising (Redis killed, timed out) would otherwise escape
the ASGI app and the server would drop the TCP connection without a close frame.
`ChannelLayerFailureClose` turns it into close code 1013 ("try again later") — or a
refused handshake when it had not been accepted yet — so clients see a clean close
and reconnect; what they missed meanwhile they fetch through
`GET /api/notifications?since=`.
"""

import asyncio
import contextlib
import logging
from typing import Any

import redis

logger = logging.getLogger("flowmatik.realtime")

CLOSE_TRY_AGAIN_LATER = 1013
LAYER_ERRORS = (redis.RedisError, OSError, asyncio.TimeoutError)


class ChannelLayerFailureClose:
    """ASGI middleware for the WebSocket routes (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        state = {"accepted": False, "closed": False}

        async def tracking_send(message: dict) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] == "websocket.close":
                state["closed"] = True
            await send(message)

        try:
            await self.inner(scope, receive, tracking_send)
        except LAYER_ERRORS as exc:
            logger.warning(
                "WebSocket closed: the channel layer is unavailable",
                extra={"error": type(exc).__name__},
            )
            if state["closed"]:
                return
            # Before the accept, a close refuses the handshake (HTTP 403).
            with contextlib.suppress(Exception):
                await send(
                    {
                        "type": "websocket.close",
                        "code": CLOSE_TRY_AGAIN_LATER,
                        "reason": "realtime unavailable, reconnect later",
                    }
                )
