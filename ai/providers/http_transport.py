"""The HTTP/1.1 keep-alive transport under the providers' `openai` clients.

The SDK keeps everything it does above the transport (auth, timeouts, status
errors, SSE parsing, our `max_retries=0`); this replaces only httpx's default
transport (httpcore on anyio), which was the largest share of a `/v1` call's CPU
(issue 18: 24 % of the worker's GIL samples, the request written in two socket
writes through several layers of cancel scopes). Here a request is one socket
write, the response is parsed by `httptools` (uvicorn's parser) in an asyncio
protocol, and each connection goes back to a small per-origin pool once its
response has been read to the end.

Contract, the same as httpx's transport: the request's timeouts (`connect`,
`read`, `write`, `pool`) are honoured and raise httpx's `ConnectTimeout`,
`ReadTimeout`, `WriteTimeout`, `PoolTimeout`; a refused or unreachable server is
`ConnectError`, a connection closed or broken before the response ends is
`RemoteProtocolError` / `ReadError` / `WriteError`, which the SDK turns into
`APITimeoutError` / `APIConnectionError`. A response closed before its end (a
stream cancelled by our client) or a call cancelled while waiting closes its
connection at once, which stops the provider generating; it never returns to the
pool. Anything this transport does not speak (HEAD, other schemes) goes to httpx's
default transport.
"""

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httptools
import httpx2

_HTTP11 = b"HTTP/1.1"
Origin = tuple[str, str, int]


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One keep-alive connection: asyncio protocol and httptools parser callbacks."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._writable = True
        self.start_response()

    def start_response(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.eof = False
        self.error: Exception | None = None

    # --- asyncio.Protocol ---
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = httpx2.RemoteProtocolError(f"invalid HTTP response: {exc}")
            self.close()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.eof = True
        self._writable = True
        self._wake()

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._wake()

    # --- httptools callbacks ---
    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        # (llhttp forgets it once `feed_data` returns)
        self.keep_alive = self.parser.should_keep_alive()

    # --- ours ---
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float | None, error: type[Exception]) -> None:
        """Until the next event on this connection (data, end, close, writable)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            raise error("timed out") from None
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def reusable(self, now: float, expiry: float) -> bool:
        return (
            not self.closed
            and not self.eof
            and self.transport is not None
            and not self.transport.is_closing()
            and now - self.idle_since < expiry
        )

    def close(self) -> None:
        """Drop the connection at once (unsent data and unread answer discarded)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def reads_until_close(self) -> bool:
        """Whether the body has no length and ends when the server closes."""
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return False
        return True


class _Pool:
    """Idle connections per origin, and the count of open ones under a ceiling."""

    def __init__(self, max_connections: int, max_idle: int, expiry: float) -> None:
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.expiry = expiry
        self.idle: dict[Origin, list[_Connection]] = {}
        self.idle_count = 0
        self.open = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take_idle(self, origin: Origin) -> _Connection | None:
        stack = self.idle.get(origin)
        now = time.monotonic()
        while stack:
            connection = stack.pop()
            self.idle_count -= 1
            if connection.reusable(now, self.expiry):
                return connection
            self.discard(connection)
        return None

    async def acquire_slot(self, timeout: float | None) -> None:
        """Count one more open connection, waiting for one to close if at most."""
        while self.open >= self.max_connections:
            if self.idle_count:  # make room: drop the oldest idle connection
                stack = max(self.idle.values(), key=len)
                self.idle_count -= 1
                self.discard(stack.pop(0))
                continue
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            self._waiting.append(waiter)
            timer = (
                None if timeout is None else loop.call_later(timeout, _expire, waiter)
            )
            try:
                await waiter
            except TimeoutError:
                raise httpx2.PoolTimeout("no connection free in time") from None
            finally:
                if timer is not None:
                    timer.cancel()
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
        self.open += 1

    def release(self, connection: _Connection) -> None:
        """A connection whose response was read to the end: back to the pool."""
        if (
            connection.closed
            or connection.eof
            or not connection.keep_alive
            or self.idle_count >= self.max_idle
        ):
            self.discard(connection)
            return
        connection.idle_since = time.monotonic()
        self.idle.setdefault(connection.origin, []).append(connection)
        self.idle_count += 1

    def discard(self, connection: _Connection) -> None:
        connection.close()
        self.open -= 1
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break

    def close_all(self) -> None:
        for stack in self.idle.values():
            for connection in stack:
                self.discard(connection)
        self.idle.clear()
        self.idle_count = 0


class _ResponseBody(httpx2.AsyncByteStream):
    """The body of one response as it arrives; the connection goes back to the
    pool once it has been read to the end, and is closed if the reader stops
    before."""

    def __init__(
        self, pool: _Pool, connection: _Connection, read_timeout: float | None
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        try:
            while connection is not None:
                chunks = connection.chunks
                if chunks:
                    connection.chunks = []
                    yield chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    continue
                if connection.complete:
                    self._connection = None
                    self._pool.release(connection)
                    return
                if connection.error is not None:
                    raise connection.error
                if connection.eof:
                    if connection.reads_until_close():
                        self._connection = None
                        self._pool.discard(connection)
                        return
                    raise httpx2.RemoteProtocolError(
                        "peer closed connection without sending complete message body"
                    )
                await connection.wait(self._read_timeout, httpx2.ReadTimeout)
        except BaseException:  # a failure, or the reader stopped before the end
            connection, self._connection = self._connection, None
            if connection is not None:
                self._pool.discard(connection)
            raise

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if connection.complete:
                self._pool.release(connection)
            else:
                self._pool.discard(connection)


class LeanHTTPTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive over asyncio for one event loop (see the module)."""

    def __init__(
        self,
        *,
        limits: httpx2.Limits,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._pool = _Pool(
            max_connections=limits.max_connections or 100,
            max_idle=limits.max_keepalive_connections or 20,
            expiry=limits.keepalive_expiry if limits.keepalive_expiry else 5.0,
        )
        self._limits = limits
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._fallback: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.scheme
        if request.method == "HEAD" or scheme not in ("http", "https"):
            return await self._fallback_transport().handle_async_request(request)
        timeouts: dict[str, Any] = request.extensions.get("timeout") or {}
        body = await request.aread()
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        lines = [b"%s %s HTTP/1.1" % (request.method.encode(), url.raw_path)]
        lines.extend(b"%s: %s" % pair for pair in request.headers.raw)
        head = b"\r\n".join(lines)
        breaks = len(lines) - 1
        if head.count(b"\n") != breaks or head.count(b"\r") != breaks:
            raise httpx2.LocalProtocolError("line break in a request header")
        payload = head + b"\r\n\r\n" + body

        connection = self._pool.take_idle(origin)
        if connection is None:
            connection = await self._connect(origin, timeouts)
        else:
            connection.start_response()
        try:
            connection.transport.write(payload)  # type: ignore[union-attr]
            while not connection._writable:
                await connection.wait(timeouts.get("write"), httpx2.WriteTimeout)
            while not connection.headers_done:
                if connection.error is not None:
                    raise connection.error
                if connection.eof:
                    raise httpx2.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    )
                await connection.wait(timeouts.get("read"), httpx2.ReadTimeout)
        except BaseException:
            self._pool.discard(connection)
            raise
        return httpx2.Response(
            status_code=connection.parser.get_status_code(),
            headers=connection.headers,
            stream=_ResponseBody(self._pool, connection, timeouts.get("read")),
            extensions={"http_version": _HTTP11, "reason_phrase": connection.reason},
        )

    async def _connect(self, origin: Origin, timeouts: dict[str, Any]) -> _Connection:
        scheme, host, port = origin
        await self._pool.acquire_slot(timeouts.get("pool"))
        loop = asyncio.get_running_loop()
        connection = _Connection(origin)
        secure = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeouts.get("connect")):
                await loop.create_connection(
                    lambda: connection,
                    host,
                    port,
                    ssl=secure,
                    server_hostname=host if secure else None,
                )
        except BaseException as exc:
            self._pool.discard(connection)
            if isinstance(exc, TimeoutError):
                raise httpx2.ConnectTimeout("timed out connecting") from exc
            if isinstance(exc, OSError):
                raise httpx2.ConnectError(str(exc) or type(exc).__name__) from exc
            raise
        return connection

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context(verify=self._verify)
        return self._ssl

    def _fallback_transport(self) -> httpx2.AsyncHTTPTransport:
        if self._fallback is None:
            self._fallback = httpx2.AsyncHTTPTransport(
                verify=self._verify, limits=self._limits
            )
        return self._fallback

    async def aclose(self) -> None:
        self._pool.close_all()
        if self._fallback is not None:
            await self._fallback.aclose()
