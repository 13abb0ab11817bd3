"""The providers' HTTP transport (ai/providers/http_transport.py) against a raw
HTTP/1.1 server: one socket write per request, keep-alive reuse, broken answers."""

import asyncio
import secrets
from asyncio import selector_events

import httpx2
import orjson
import pytest

from ai.errors import ProviderUnavailable
from ai.providers.chat import chat_complete_upstream, chat_stream_upstream
from ai.providers.http_transport import LeanHTTPTransport
from ai.types import ProviderConfig

COMPLETION = orjson.dumps(
    {
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1},
    }
)


class RawProvider:
    """An OpenAI-compatible endpoint on asyncio streams, keep-alive HTTP/1.1; what
    it answers is `reply(request_number)` as raw bytes (None: hang up)."""

    def __init__(self, reply=None) -> None:
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.reply = reply or (lambda n: _http_ok(COMPLETION))
        self.server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task, asyncio.StreamWriter] = {}

    async def start(self) -> "RawProvider":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                answer = self.reply(len(self.requests))
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._handlers.pop(task, None)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self._handlers.values()):  # connections kept alive
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self.server.wait_closed()


def _http_ok(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n%s\r\n%s" % (len(body), extra, body)
    )


@pytest.fixture
async def raw_provider():
    server = await RawProvider().start()
    yield server
    await server.stop()


def _config(server: RawProvider) -> ProviderConfig:
    # a provider name of its own: its circuit and client are this test's alone
    return ProviderConfig(
        f"raw-{secrets.token_hex(4)}",
        "fake",
        f"http://127.0.0.1:{server.port}/v1",
        "sk-raw-test",
    )


async def _complete(config: ProviderConfig):
    return await chat_complete_upstream(
        provider=config,
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        request_id="req_1",
    )


async def test_a_completion_request_is_one_socket_write(raw_provider, monkeypatch):
    config = _config(raw_provider)
    await _complete(config)  # connected and warm
    writes: list[int] = []
    real_write = selector_events._SelectorSocketTransport.write

    def counting_write(self, data):
        peer = self.get_extra_info("peername")
        if peer and peer[1] == raw_provider.port:
            writes.append(len(data))
        return real_write(self, data)

    monkeypatch.setattr(
        selector_events._SelectorSocketTransport, "write", counting_write
    )

    completion = await _complete(config)

    assert completion.content == "ok"
    head, body = raw_provider.requests[-1]
    assert writes == [len(head) + len(body)]  # head and body: one send


async def test_consecutive_calls_reuse_one_keep_alive_connection(raw_provider):
    config = _config(raw_provider)
    for _ in range(3):
        assert (await _complete(config)).content == "ok"
    assert raw_provider.connections == 1
    assert len(raw_provider.requests) == 3


async def test_a_connection_the_provider_closed_is_not_reused():
    # the first answer says `connection: close`: the next call opens a new one
    server = await RawProvider(
        lambda n: _http_ok(COMPLETION, b"connection: close\r\n")
    ).start()
    try:
        config = _config(server)
        assert (await _complete(config)).content == "ok"
        assert (await _complete(config)).content == "ok"
        assert server.connections == 2
    finally:
        await server.stop()


async def test_an_answer_cut_before_its_length_is_a_connection_error(settings):
    settings.AI_MAX_RETRIES = 0

    async def answer_13_bytes_of_500_then_hang_up(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n{"choices": [')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(
        answer_13_bytes_of_500_then_hang_up, "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    config = ProviderConfig(
        f"raw-{secrets.token_hex(4)}", "fake", f"http://127.0.0.1:{port}/v1", "sk"
    )
    try:
        with pytest.raises(ProviderUnavailable) as err:
            await _complete(config)
        assert err.value.status_code == 503
    finally:
        server.close()
        await server.wait_closed()


async def test_a_stream_closed_early_closes_its_connection(settings):
    settings.AI_MAX_RETRIES = 0
    hung_up = asyncio.Event()
    release = asyncio.Event()

    async def serve_endless_stream(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        event = (
            b'data: {"choices":[{"index":0,"delta":{"content":"x"},'
            b'"finish_reason":null}]}\n\n'
        )
        try:
            while not release.is_set():
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
                await asyncio.sleep(0.01)
                if reader.at_eof():
                    break
            await reader.read()  # until the client hangs up
        except ConnectionError:
            pass
        hung_up.set()
        writer.close()

    server = await asyncio.start_server(serve_endless_stream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = ProviderConfig(
        f"raw-{secrets.token_hex(4)}", "fake", f"http://127.0.0.1:{port}/v1", "sk"
    )
    try:
        stream = chat_stream_upstream(
            provider=config,
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=4,
        )
        first = await stream.__anext__()
        assert first.content == "x"
        await stream.aclose()
        await asyncio.wait_for(hung_up.wait(), 5)
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_a_line_break_in_a_header_value_is_refused_before_sending(
    raw_provider,
):
    transport = LeanHTTPTransport(limits=httpx2.Limits(max_connections=2))
    async with httpx2.AsyncClient(transport=transport) as client:
        # httpx passes such a value through to the transport as it is
        request = client.build_request(
            "POST",
            f"http://127.0.0.1:{raw_provider.port}/v1/x",
            content=b"{}",
            headers={"x-request-id": "a\r\nx-evil: 1"},
        )
        with pytest.raises(httpx2.LocalProtocolError):
            await client.send(request)
    assert raw_provider.requests == []
