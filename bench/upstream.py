"""The bench's upstream: a zero-latency OpenAI-compatible chat server on raw asyncio.

`python -m bench.upstream --port P [--latency-ms L] [--chunk-gap-ms G] [--chunks N]`
answers `GET /v1/models` and `POST /v1/chat/completions` (JSON, or SSE when
``"stream": true``) with HTTP/1.1 keep-alive, doing as little work as possible so
that what the bench measures is the gateway in front of it. A directive in the last
message overrides the defaults per request: ``[[latency:5]]`` (ms before the first
byte), ``[[gap:20]]`` (ms between chunks), ``[[chunks:50]]`` (content chunks).
It prints ``listening on <port>`` once it accepts connections.
"""

import argparse
import asyncio
import json
import re
import time

DIRECTIVE = re.compile(rb"\[\[(latency|gap|chunks):([0-9.]+)\]\]")
MODELS = json.dumps(
    {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "bench"}
            for name in ("flowmatik-demo", "flowmatik-demo-pro")
        ],
    }
).encode()


def _completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Fast, calm, done."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        }
    ).encode()


def _chunk(model: str, delta: dict, finish: str | None = None, usage=None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        if usage is None
        else [],
    }
    if usage is not None:
        body["usage"] = usage
    data = b"data: " + json.dumps(body).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


class Upstream(asyncio.Protocol):
    """One keep-alive connection; requests are answered in order."""

    def __init__(self, defaults: dict[str, float]) -> None:
        self.defaults = defaults
        self.buffer = b""
        self.queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.task = asyncio.get_running_loop().create_task(self.serve())

    def connection_lost(self, exc) -> None:
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.queue.put_nowait((head, self.buffer[head_end + 4 : end]))
            self.buffer = self.buffer[end:]

    async def serve(self) -> None:
        while True:
            head, body = await self.queue.get()
            await self.answer(head.split(b" ", 2)[1], body)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def answer(self, path: bytes, body: bytes) -> None:
        if path.startswith(b"/v1/models"):
            self.write(_response(200, MODELS))
            return
        if not path.startswith(b"/v1/chat/completions"):
            self.write(_response(404, b'{"error":{"message":"not found"}}'))
            return
        try:
            request = json.loads(body)
            model = str(request.get("model") or "flowmatik-demo")
        except (ValueError, AttributeError):
            self.write(_response(400, b'{"error":{"message":"bad json"}}'))
            return
        options = dict(self.defaults)
        for name, value in DIRECTIVE.findall(body):
            options[name.decode()] = float(value)
        if options["latency"] > 0:
            await asyncio.sleep(options["latency"] / 1000)
        if not request.get("stream"):
            self.write(_response(200, _completion(model)))
            return
        self.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
            + _chunk(model, {"role": "assistant", "content": ""})
        )
        chunks, gap = int(options["chunks"]), options["gap"] / 1000
        for i in range(chunks):
            if gap > 0:
                await asyncio.sleep(gap)
            self.write(_chunk(model, {"content": f"w{i} "}))
        self.write(_chunk(model, {}, "stop"))
        usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 0}
        usage["total_tokens"] = 12 + chunks
        self.write(_chunk(model, {}, usage=usage))
        done = b"data: [DONE]\n\n"
        self.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))


def _response(status: int, body: bytes) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}[status]
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % (status, reason, len(body)) + body
    )


async def serve(port: int, defaults: dict[str, float]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Upstream(defaults), "127.0.0.1", port, backlog=4096
    )
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--chunk-gap-ms", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=32)
    args = parser.parse_args()
    defaults = {
        "latency": args.latency_ms,
        "gap": args.chunk_gap_ms,
        "chunks": float(args.chunks),
    }
    try:
        import uvloop  # the platform's uvicorn uses it too when installed
    except ImportError:
        asyncio.run(serve(args.port, defaults))
    else:
        uvloop.run(serve(args.port, defaults))


if __name__ == "__main__":
    main()
