"""A small MCP server (the official SDK's `MCPServer`) that tests start on a free port.

Fixtures `mcp_server` (session) and `mcp_record` (its calls cleared), registered
through the shared plugin's `pytest_plugins`. It speaks Streamable HTTP like any
external integration, and answers 401 unless the request carries
`Authorization: Bearer <TOKEN>` (proving the stored, encrypted header reaches it).
`calls` records every tool call for assertions.
"""

import asyncio
from dataclasses import dataclass, field

import pytest
from mcp.server import MCPServer
from starlette.responses import JSONResponse

from flowmatik.testing.servers import LiveAsgiServer

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
    """The MCP test server, started once per session (`McpTestServer`)."""
    record = McpTestServer(url="")
    server = LiveAsgiServer(_build(record), log_level="critical", lifespan="on")
    server.start()
    record.url = f"{server.http_url}/mcp"
    yield record
    server.stop()


@pytest.fixture
def mcp_record(mcp_server):
    """The MCP test server with no calls recorded yet."""
    mcp_server.calls.clear()
    mcp_server.methods.clear()
    return mcp_server
