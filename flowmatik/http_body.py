"""ASGI wrapper: a request body sent chunked (no Content-Length) is read and sized.

uvicorn passes `Transfer-Encoding: chunked` bodies through without a Content-Length;
Django then still has the body, but DRF's parsers treat a missing Content-Length as
"no body" and a view would answer 200 for data it never saw. This wrapper reads such
a body up front (bounded by `HTTP_CHUNKED_BODY_MAX_BYTES`, else 413), sets the
Content-Length it really had, and replays it to the application.
"""

import json
from typing import Any

from django.conf import settings

from flowmatik.errors import PayloadTooLarge, error_body

Scope = dict[str, Any]


def _needs_sizing(scope: Scope) -> bool:
    has_length = False
    chunked = False
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            has_length = True
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return chunked and not has_length


async def _send_too_large(send) -> None:
    exc = PayloadTooLarge()
    body = json.dumps(error_body(exc.code, exc.message, exc.details)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ChunkedBodyMiddleware:
    """Give every chunked HTTP request body a real Content-Length (or a 413)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or not _needs_sizing(scope):
            await self.app(scope, receive, send)
            return
        limit = settings.HTTP_CHUNKED_BODY_MAX_BYTES
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_too_large(send)
                return
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name not in (b"transfer-encoding", b"content-length")
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": headers}, replay, send)
