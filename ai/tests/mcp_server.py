"""A small MCP server (the official SDK's `MCPServer`) that tests start on a free port.

It speaks Streamable HTTP like any external integration, and answers 401 unless
the request carries `Authorization: Bearer <TOKEN>` (proving the stored, encrypted
header reaches it). `calls` records every tool call for assertions.
"""

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest
import uvicorn
from mcp.server import MCPServer
from starlette.responses import JSONResponse

TOKEN = "Bearer mcp-test-token-9f3a"


@dataclass
class McpTestServer:
    url: str
    calls: list[tuple[str, dict]] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)  # each request's Mcp-Method


def _build(record: McpTestServer):
    server = MCPServer("flowmatik-test-tools")

    @server.tool()
    async def shout(text: str) -> str:
        """Upper-case a text."""
        record.calls.append(("shout", {"text": text}))
        return text.upper() + "!"

    @server.tool()
    async def slow(text: str) -> str:
        """Answers after a long pause."""
        record.calls.append(("slow", {"text": text}))
        await asyncio.sleep(3)
        return "late"

    @server.tool()
    async def explode(text: str) -> str:
        """Always fails."""
        record.calls.append(("explode", {"text": text}))
        raise RuntimeError("tool exploded")

    app = server.streamable_http_app(streamable_http_path="/mcp")

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            record.methods.append(headers.get(b"mcp-method", b"").decode())
            if headers.get(b"authorization", b"").decode() != TOKEN:
                await JSONResponse({"error": "unauthorized"}, status_code=401)(
                    scope, receive, send
                )
                return
        await app(scope, receive, send)

    return guarded


@pytest.fixture(scope="session")
def mcp_server():
    record = McpTestServer(url="")
    server = uvicorn.Server(
        uvicorn.Config(
            _build(record),
            host="127.0.0.1",
            port=0,  # the OS picks a free port
            lifespan="on",
            log_level="critical",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("MCP test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    record.url = f"http://127.0.0.1:{port}/mcp"
    yield record
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def mcp_record(mcp_server):
    mcp_server.calls.clear()
    mcp_server.methods.clear()
    return mcp_server
