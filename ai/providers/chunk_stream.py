"""A provider's streamed chat read straight into `ProviderChunk`s.

The `openai` SDK's own stream reader costs several layers of Python per chunk (its
byte-to-line decoder, a `ServerSentEvent` per event, stdlib `json`, four async
generators). `ChunkStream` keeps the SDK's request, connection, auth and status
errors (it is the `stream_cls` the SDK builds around the response) and replaces only
the reading: the response's bytes are split into events here, each event's data
read by orjson and turned into a `ProviderChunk`, in one async generator.

What it reads, as the SDK does: lines end in LF, CRLF or CR; an event ends at a
blank line; `data:` lines are joined with LF (one optional space after the colon is
dropped); comments (`:`) and other fields are ignored; `data: [DONE]` ends the
stream (the rest of the body is read so that the connection can be reused); an
event left unfinished when the body ends is dropped; a JSON object with an `error`
raises `openai.APIError`. Unlike the SDK, an event without data is skipped (the SDK
read a `retry:`-only event as empty JSON and failed).
"""

from collections.abc import AsyncIterator
from typing import Any

import openai
import orjson
from openai._streaming_cleanup import drain_response_async

from ai.types import ProviderChunk

_DONE = b"[DONE]"


def chunk_from_json(chunk: Any) -> ProviderChunk:
    """A `chat.completion.chunk` object's fields we use, read as the SDK's model
    would (missing fields are empty); a chunk of another shape raises."""
    usage = chunk.get("usage")
    content, reasoning, finish, calls = "", "", None, []
    choices = chunk.get("choices")
    if choices:
        choice = choices[0]
        delta = choice.get("delta")
        if delta:
            content = delta.get("content") or ""
            reasoning = delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or []:
                function = call.get("function")
                calls.append(
                    {
                        "index": call.get("index"),
                        "id": call.get("id"),
                        "name": function.get("name") if function else None,
                        "arguments": function.get("arguments") if function else None,
                    }
                )
        finish = choice.get("finish_reason")
    if usage:
        return ProviderChunk(
            content,
            finish,
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
            calls,
            reasoning,
        )
    return ProviderChunk(content, finish, None, None, calls, reasoning)


def _event_data(block: bytes) -> bytes | None:
    """The data of one event (its lines without the blank line), None if none."""
    if block.startswith(b"data:") and b"\n" not in block:  # the usual event
        data = block[5:]
        return data[1:] if data.startswith(b" ") else data
    lines = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines) if lines else None


def _raise_if_error(data: Any, response: Any) -> None:
    if isinstance(data, dict) and data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else None
        if not message or not isinstance(message, str):
            message = "An error occurred during streaming"
        raise openai.APIError(message=message, request=response.request, body=error)


class ChunkStream(openai.AsyncStream[ProviderChunk]):
    """The SDK's stream of a chat completion, yielding `ProviderChunk`s."""

    def __aiter__(self) -> AsyncIterator[ProviderChunk]:
        return self._iterator

    async def __stream__(self) -> AsyncIterator[ProviderChunk]:
        response = self.response
        pending = b""
        try:
            async for received in response.aiter_bytes():
                pending += received
                if b"\r" in pending:
                    # A CR at the end may be the first half of a CRLF: keep it back.
                    held = b"\r" if pending.endswith(b"\r") else b""
                    if held:
                        pending = pending[:-1]
                    pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                else:
                    held = b""
                if b"\n\n" not in pending:
                    pending += held
                    continue
                *blocks, pending = pending.split(b"\n\n")
                pending += held
                for block in blocks:
                    data = _event_data(block)
                    if data is None:
                        continue
                    if data.startswith(_DONE):
                        if response.http_version == "HTTP/1.1":
                            await drain_response_async(response)
                        return
                    parsed = orjson.loads(data)
                    _raise_if_error(parsed, response)
                    yield chunk_from_json(parsed)
        finally:
            await response.aclose()
