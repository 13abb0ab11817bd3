"""The provider's streamed chat read into chunks (`ai.providers.chunk_stream`): the
events as the SDK reads them, and what reading one chunk costs."""

import json
import socketserver
import sys
import threading
import time
from collections import Counter

import pytest

from ai.errors import ProviderError
from ai.providers.chat import chat_stream_upstream
from ai.types import ProviderConfig


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> dict:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["choices"], body["usage"] = [], usage
    return body


def _data(obj: dict) -> bytes:
    return b"data: " + json.dumps(obj).encode()


class _RawSSE(socketserver.ThreadingTCPServer):
    """Answers every POST with `pieces`, each sent (chunked) on its own."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, pieces: list[bytes]):
        self.pieces = pieces

        class Handler(socketserver.StreamRequestHandler):
            def handle(handler) -> None:
                headers = {}
                handler.rfile.readline()
                while (line := handler.rfile.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.lower()] = value.strip()
                handler.rfile.read(int(headers.get("content-length", 0)))
                handler.wfile.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for piece in self.pieces:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    handler.wfile.flush()
                    time.sleep(0.005)  # each piece its own read
                handler.wfile.write(b"0\r\n\r\n")

        super().__init__(("127.0.0.1", 0), Handler)

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()

    @property
    def provider(self) -> ProviderConfig:
        host, port = self.server_address[:2]
        return ProviderConfig("raw", "fake", f"http://{host}:{port}/v1", "key")


async def _read(provider: ProviderConfig) -> list:
    return [
        chunk
        async for chunk in chat_stream_upstream(
            provider=provider,
            model="m",
            messages=[{"role": "user", "content": "x"}],
            max_tokens=9,
        )
    ]


async def test_events_are_read_as_the_event_stream_format_says():
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    tool = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
    pieces = [
        b": a comment\n\n",
        _data(_chunk({"role": "assistant", "content": "Olá"})) + b"\r\n\r\n",
        # one JSON object over two `data:` lines (joined with LF), CR line ends
        b'data: {"choices": [{"index": 0,\rdata:"delta": {"content": " wor',
        b'ld"}, "finish_reason": null}]}\r\r',
        b"event: message\nid: 7\n" + _data(_chunk({"reasoning_content": "hm"})),
        b"\r",  # a CRLF cut in two reads
        b"\n\r\n",
        b"retry: 10\n\n",  # no data: no event (the SDK failed on it: empty JSON)
        _data(_chunk({"tool_calls": [tool]})) + b"\n\n",
        _data(_chunk({}, "stop")) + b"\n\n" + _data(_chunk({}, usage=usage)) + b"\n\n",
        b"data: [DONE]\n\n",
        b"data: not json, after the end\n\n",
    ]
    with _RawSSE(pieces) as server:
        chunks = await _read(server.provider)

    assert [c.content for c in chunks] == ["Olá", " world", "", "", "", ""]
    assert [c.reasoning for c in chunks] == ["", "", "hm", "", "", ""]
    assert chunks[3].tool_calls == [
        {"index": 0, "id": "c1", "name": "f", "arguments": "{}"}
    ]
    assert chunks[4].finish_reason == "stop"
    assert (chunks[5].prompt_tokens, chunks[5].completion_tokens) == (3, 4)


async def test_an_error_object_in_the_stream_cuts_the_answer_off():
    pieces = [
        _data(_chunk({"content": "Hi"})) + b"\n\n",
        b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n',
    ]
    with _RawSSE(pieces) as server, pytest.raises(ProviderError) as err:
        await _read(server.provider)
    assert err.value.message == "The AI provider's answer was cut off."


async def test_an_event_left_unfinished_at_the_end_is_dropped():
    pieces = [
        _data(_chunk({"content": "Hi"}, "stop")) + b"\n\n",
        _data(_chunk({"content": " there"})) + b"\n",
    ]
    with _RawSSE(pieces) as server:
        chunks = await _read(server.provider)
    assert [c.content for c in chunks] == ["Hi"]


# Python calls per chunk in the SDK's stream reader and ours (`openai`, `ai`, the
# stdlib `json`), above the HTTP transport: 32 with the SDK's SSE decoder.
READER_CALLS_PER_CHUNK = 15
# the HTTP transport itself (ours since the lean transport) is not the reader
TRANSPORT_MODULE = "ai/providers/http_transport.py"


async def _reader_calls(provider: ProviderConfig, words: int) -> tuple[int, int]:
    calls: Counter[str] = Counter()

    def count(frame, event, arg) -> None:
        if event == "call":
            calls[frame.f_code.co_filename] += 1

    prompt = f"Tell me [[words:{words}]] [[delay:0.002]]"
    chunks = 0
    sys.setprofile(count)
    try:
        async for _ in chat_stream_upstream(
            provider=provider,
            model="flowmatik-demo",
            messages=[{"role": "user", "content": prompt}],
            max_tokens=4000,
        ):
            chunks += 1
    finally:
        sys.setprofile(None)
    reader = sum(
        n
        for path, n in calls.items()
        if any(part in path for part in ("/openai/", "/ai/", "/json/"))
        and not path.endswith(TRANSPORT_MODULE)
    )
    return reader, chunks


async def test_reading_a_chunk_costs_few_python_calls_above_the_transport(
    demo_server,
):
    provider = ProviderConfig("demo", "demo", demo_server.base_url, "key")
    await _reader_calls(provider, 1)  # warm: connection, imports
    short_calls, short_chunks = await _reader_calls(provider, 1)
    long_calls, long_chunks = await _reader_calls(provider, 21)

    assert long_chunks - short_chunks >= 15
    per_chunk = (long_calls - short_calls) / (long_chunks - short_chunks)
    assert per_chunk <= READER_CALLS_PER_CHUNK
