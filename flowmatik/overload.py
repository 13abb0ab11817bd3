"""Per-process limit on concurrent AI requests: a flood beyond capacity is refused
at once (503 `overloaded`, Retry-After) instead of queueing until clients time out.

ASGI middleware in front of Django (`flowmatik.asgi`). It counts POSTs to the AI
paths (`/api/ai/`, `/v1/`) from the first byte until the response, streams
included, has been sent; past `AI_MAX_CONCURRENT_REQUESTS` (0 = no limit) the
request is answered in the error envelope without reaching Django, the database
or a provider. One event loop per process, so the counter needs no lock.
"""

import json
from typing import Any

from django.conf import settings

from flowmatik.request_context import new_request_id

AI_PATH_PREFIXES = ("/api/ai/", "/v1/")


def _is_ai_call(scope: dict) -> bool:
    return scope.get("method") == "POST" and scope.get("path", "").startswith(
        AI_PATH_PREFIXES
    )


class AiConcurrencyLimit:
    """See the module docstring; `active` is the number of AI requests in flight."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.active = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        limit = settings.AI_MAX_CONCURRENT_REQUESTS
        if limit <= 0 or scope.get("type") != "http" or not _is_ai_call(scope):
            await self.inner(scope, receive, send)
            return
        if self.active >= limit:
            await _refuse(scope, send)
            return
        self.active += 1
        try:
            await self.inner(scope, receive, send)
        finally:
            self.active -= 1


async def _refuse(scope: dict, send: Any) -> None:
    request_id = new_request_id()
    body = json.dumps(
        {
            "error": {
                "code": "overloaded",
                "message": "The server is busy, try again shortly.",
                "details": {},
            },
            "request_id": request_id,
        }
    ).encode()
    retry_after = max(1, int(settings.AI_OVERLOAD_RETRY_AFTER_SECONDS))
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
