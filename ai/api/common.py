"""What the async AI views share: authentication, input parsing, headers, SSE."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from rest_framework import serializers

from accounts.identity import Identity, aidentify, credentials_from_headers
from flowmatik.client_ip import client_ip as flowmatik_client_ip
from flowmatik.errors import (
    ApplicationError,
    InvalidInput,
    NotAuthenticated,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from flowmatik.request_context import bind_user


async def authenticate(request: HttpRequest) -> Identity:
    """The caller's identity from a JWT or an API key (cached; usually no query)."""
    kind, token = credentials_from_headers(request.headers)
    identity = await aidentify(kind, token) if kind else None
    if identity is None:
        raise NotAuthenticated()
    bind_user(identity.user_id)
    return identity


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def parse_body(request: HttpRequest, serializer_class) -> dict[str, Any]:
    """The validated JSON object body; 415 / 413 / 400 `malformed_request` else."""
    if not _is_json(request.content_type or ""):
        raise UnsupportedMediaType()
    try:
        data = json.loads(request.body or b"{}")
    except RequestDataTooBig:
        raise PayloadTooLarge() from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput(
            "The body is not valid JSON.", code="malformed_request"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", code="malformed_request")
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except serializers.ValidationError as exc:
        raise InvalidInput(details={"fields": exc.detail}) from None
    return serializer.validated_data


def client_ip(request: HttpRequest) -> str | None:
    return flowmatik_client_ip(request) or None


def quota_headers(quota: Any) -> dict[str, str]:
    if quota is None:
        return {}
    from usage.services import quota_headers as usage_quota_headers

    return usage_quota_headers(quota)


def apply_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


def error_headers(exc: ApplicationError) -> dict[str, str]:
    """Retry-After, and the X-RateLimit-* headers of the quota the error carries
    (refusals, and failures after admission: `ai.services.chat_run` attaches it)."""
    headers = dict(exc.headers())
    headers.update(quota_headers(getattr(exc, "quota", None)))
    return headers


def sse_frame(event: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, default=str)
    return f"event: {event}\ndata: {payload}\n\n".encode()


def sse_headers(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def documented(view, schema_view_class):
    """Let drf-spectacular describe a plain async view through a thin APIView."""
    view.cls = schema_view_class
    view.initkwargs = {}
    return view


SSE_KEEPALIVE_SECONDS = 15.0
SSE_PING = b": ping\n\n"


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
