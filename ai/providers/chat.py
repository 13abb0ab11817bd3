"""Chat completions through the `openai` SDK, with our retry, breaker and mapping.

Retries (exponential backoff with jitter, at most AI_MAX_RETRIES) happen only before
the first streamed chunk reached us, on 429, 5xx and connection errors; a 429's
`Retry-After` is honoured up to AI_RETRY_MAX_WAIT_SECONDS, and a longer one is not
waited for but passed on to our client (503 with that `Retry-After`). Errors leave
as `ProviderError` (502), `ProviderTimeout` (504) or `ProviderUnavailable` (503) with
our own message: the provider's raw body is logged (truncated, no key) but never sent.
"""

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx2
import openai
import orjson
from django.conf import settings

from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ai.providers.chunk_stream import ChunkStream
from ai.providers.circuit import (
    CircuitTicket,
    acircuit_before_call,
    circuit_record_failure,
    circuit_record_success,
)
from ai.providers.registry import client_for
from ai.types import ProviderChunk, ProviderCompletion, ProviderConfig
from flowmatik.errors import ApplicationError

logger = logging.getLogger("flowmatik.ai")

RETRY_BASE_SECONDS = 0.2


_T = TypeVar("_T")


class _EmptyStream(Exception):
    """The provider closed the stream before sending anything."""


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return False
    hinted = _retry_after(exc)
    if hinted is not None and hinted > settings.AI_RETRY_MAX_WAIT_SECONDS:
        return False  # the provider asks for longer than a caller should wait
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, _EmptyStream)


def _backoff(attempt: int, exc: BaseException) -> float:
    longest = float(settings.AI_RETRY_MAX_WAIT_SECONDS)
    hinted = _retry_after(exc)
    if hinted is not None:
        return min(max(hinted, 0.0), longest)
    base: float = min(RETRY_BASE_SECONDS * (2**attempt), longest)
    return base / 2 + random.uniform(0, base / 2)  # noqa: S311 - jitter, not crypto


def map_provider_error(exc: BaseException, provider: str) -> ApplicationError:
    """Our error for an SDK/transport failure; never the provider's body."""
    details: dict[str, Any] = {"provider": provider}
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return ProviderTimeout(details=details)
    if isinstance(exc, openai.APIConnectionError | httpx2.ConnectError):
        return ProviderUnavailable(
            "The AI provider could not be reached.", details=details
        )
    if isinstance(exc, openai.APIStatusError):
        details["upstream_status"] = exc.status_code
        if exc.status_code == 429:
            return ProviderUnavailable(
                "The AI provider is rate limiting requests, try again shortly.",
                details=details,
                retry_after=_retry_after(exc) or 5,
            )
        return ProviderError(details=details)
    if isinstance(exc, _EmptyStream):
        return ProviderError("The AI provider sent an empty answer.", details=details)
    return ProviderError(
        "The AI provider's answer was cut off.", code="provider_error", details=details
    )


def _counts_against_circuit(exc: BaseException) -> bool:
    """Provider faults open the circuit; its rate limiting and bad requests do not."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500
    return not isinstance(exc, ApplicationError)


def _log_failure(
    exc: BaseException, provider: str, request_id: str, attempt: int
) -> None:
    # Status and the provider's error code only: its body can echo the prompt.
    code = getattr(exc, "code", None)
    logger.warning(
        "AI provider call failed",
        extra={
            "provider": provider,
            "errorType": type(exc).__name__,
            "upstreamStatus": getattr(exc, "status_code", None),
            "upstreamCode": str(code)[:64] if code is not None else None,
            "attempt": attempt,
            "requestId": request_id,
        },
    )


def _request_kwargs(
    *,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float | None,
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
    request_id: str,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "extra_headers": {"X-Request-ID": request_id},
    }
    if temperature is not None:
        kwargs["temperature"] = temperature
    if tools:
        kwargs["tools"] = tools
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
    return kwargs


async def _with_retries(
    provider: ProviderConfig, request_id: str, attempt_call: Callable[[], Awaitable[_T]]
) -> tuple[_T, CircuitTicket, float]:
    """Run `attempt_call()` with our retry policy; returns (result, ticket, started)."""
    ticket = await acircuit_before_call(provider.name)
    started = time.perf_counter()
    attempt = 0
    while True:
        try:
            return await attempt_call(), ticket, started
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log_failure(exc, provider.name, request_id, attempt)
            if _is_retryable(exc) and attempt < settings.AI_MAX_RETRIES:
                await asyncio.sleep(_backoff(attempt, exc))
                attempt += 1
                continue
            mapped = map_provider_error(exc, provider.name)
            latency_ms = int((time.perf_counter() - started) * 1000)
            if _counts_against_circuit(exc):
                circuit_record_failure(
                    ticket, latency_ms=latency_ms, error_code=mapped.code
                )
            raise mapped from exc


async def chat_stream_upstream(
    *,
    provider: ProviderConfig,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    request_id: str = "",
) -> AsyncIterator[ProviderChunk]:
    """Stream a chat from `provider`; always asks for `include_usage`.

    Closing this generator (or cancelling its consumer) closes the upstream HTTP
    stream at once, which stops the provider generating (and billing) tokens.
    A failure after the first chunk raises `ProviderError` and is never retried.
    """
    client = client_for(provider)
    kwargs = _request_kwargs(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        tools=tools,
        tool_choice=tool_choice,
        request_id=request_id,
    )

    headers = kwargs.pop("extra_headers")
    body = _json_bytes(
        {**kwargs, "stream": True, "stream_options": {"include_usage": True}}
    )

    async def open_stream() -> tuple[
        ChunkStream, AsyncIterator[ProviderChunk], ProviderChunk
    ]:
        # The SDK's request (connection, auth, status errors) around our reader of
        # the events (`ChunkStream`): no parameter transform, no model per chunk.
        stream = await client.post(
            "/chat/completions",
            body=body,
            cast_to=ProviderChunk,
            options={"headers": headers},
            stream=True,
            stream_cls=ChunkStream,
        )
        iterator = stream.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            await stream.close()
            raise _EmptyStream() from None
        except BaseException:
            await stream.close()
            raise
        return stream, iterator, first

    (stream, iterator, first), ticket, started = await _with_retries(
        provider, request_id, open_stream
    )
    finished = False
    try:
        saw_finish = first.finish_reason is not None
        yield first
        async for chunk in iterator:
            saw_finish = saw_finish or chunk.finish_reason is not None
            yield chunk
        if not saw_finish:
            raise ProviderError("The AI provider's answer was cut off.")
        finished = True
    except (GeneratorExit, asyncio.CancelledError):
        raise
    except Exception as exc:
        _log_failure(exc, provider.name, request_id, -1)
        latency_ms = int((time.perf_counter() - started) * 1000)
        mapped: ApplicationError
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            mapped = ProviderTimeout(details={"provider": provider.name})
        else:  # output had begun: whatever broke, the answer was cut off
            mapped = ProviderError(
                "The AI provider's answer was cut off.",
                details={"provider": provider.name},
            )
        if isinstance(exc, ProviderError) or _counts_against_circuit(exc):
            circuit_record_failure(
                ticket, latency_ms=latency_ms, error_code=mapped.code
            )
        raise mapped from exc
    finally:
        await asyncio.shield(stream.close())
        if finished:
            circuit_record_success(
                ticket, latency_ms=int((time.perf_counter() - started) * 1000)
            )


async def chat_complete_upstream(
    *,
    provider: ProviderConfig,
    model: str,
    messages: list[dict[str, Any]],
    max_tokens: int,
    temperature: float | None = None,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    request_id: str = "",
) -> ProviderCompletion:
    """A non-streamed chat from `provider`."""
    client = client_for(provider)
    kwargs = _request_kwargs(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        tools=tools,
        tool_choice=tool_choice,
        request_id=request_id,
    )

    headers = kwargs.pop("extra_headers")
    body = _json_bytes(kwargs)

    async def call() -> httpx2.Response:
        # The raw response: the SDK keeps the connection, auth, timeout and status
        # errors; the body is encoded and read here (orjson), without the SDK's
        # parameter transform and response models (an identity for our plain
        # dicts, and most of the SDK's CPU per call).
        return await client.post(
            "/chat/completions",
            body=body,
            cast_to=httpx2.Response,
            options={"headers": headers},
        )

    response, ticket, started = await _with_retries(provider, request_id, call)
    latency_ms = int((time.perf_counter() - started) * 1000)
    try:
        completion = _completion_from_json(orjson.loads(response.content))
    except (ValueError, TypeError, AttributeError, LookupError) as exc:
        _log_failure(exc, provider.name, request_id, 0)
        mapped = ProviderError(
            "The AI provider's answer could not be read.",
            details={"provider": provider.name},
        )
        circuit_record_failure(ticket, latency_ms=latency_ms, error_code=mapped.code)
        raise mapped from exc
    circuit_record_success(ticket, latency_ms=latency_ms)
    return completion


def _json_bytes(payload: dict[str, Any]) -> bytes:
    """The request body as the SDK would send it: compact UTF-8 JSON (orjson; `json`
    for what orjson refuses, such as integers over 64 bits)."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _completion_from_json(data: Any) -> ProviderCompletion:
    """A `chat.completion` object's fields we use, read as the SDK's model would
    (missing fields are empty); a body of another shape raises TypeError,
    AttributeError or LookupError."""
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    choices = data.get("choices") or []
    choice = choices[0] if choices else None
    message = (choice.get("message") if choice else None) or {}
    usage = data.get("usage") or {}
    calls = [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": function.get("name"),
                "arguments": function.get("arguments"),
            },
        }
        for call in message.get("tool_calls") or []
        if (function := call.get("function"))
    ]
    return ProviderCompletion(
        content=message.get("content") or "",
        reasoning=message.get("reasoning_content") or "",
        finish_reason=(choice.get("finish_reason") if choice else None) or "stop",
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        tool_calls=calls,
    )
