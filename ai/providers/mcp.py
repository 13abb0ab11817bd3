"""External MCP servers over Streamable HTTP, through the official `mcp` SDK.

The only module that imports `mcp` on the client side. It lists a server's tools
(cached in the shared cache for AI_MCP_TOOLS_CACHE_SECONDS; a failed call drops the
entry so the next turn lists again) and calls one tool with a timeout. Results come
back as plain `ToolOutput`s; transport and protocol failures leave as `McpFailure`
with our own message (the server's body is never relayed or logged).
"""

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import anyio
import httpx2
from django.conf import settings
from django.core.cache import cache

from flowmatik.errors import ApplicationError

if TYPE_CHECKING:
    from mcp import Client

logger = logging.getLogger("flowmatik.ai")


class McpFailure(ApplicationError):
    status_code = 502
    code = "tool_server_error"
    default_message = "The tool server could not be reached or failed."


@dataclass(frozen=True)
class McpEndpoint:
    """Where a server lives; `headers` (its decrypted auth) never appear in repr."""

    server_id: int
    slug: str
    url: str
    version: str  # changes when staff/user edit the server (part of the cache key)
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    public_only: bool = False  # a user's server: refuse private/loopback addresses


@dataclass(frozen=True)
class McpTool:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolOutput:
    text: str
    is_error: bool = False


def _cache_key(endpoint: McpEndpoint) -> str:
    return f"ai:mcp:tools:{endpoint.server_id}:{endpoint.version}"


def _http_client(endpoint: McpEndpoint, read_timeout: float) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers=endpoint.headers,
        timeout=httpx2.Timeout(
            read_timeout, connect=settings.AI_MCP_CONNECT_TIMEOUT_SECONDS
        ),
    )


async def _public_host_check(endpoint: McpEndpoint) -> None:
    """Users' servers must resolve to public addresses at call time too (a name
    registered as public could later point inside our network)."""
    parts = urlsplit(endpoint.url)
    infos = await asyncio.get_running_loop().getaddrinfo(
        parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    )
    if not infos or any(not ipaddress.ip_address(i[4][0]).is_global for i in infos):
        raise McpFailure(
            "The tool server's address is not public.",
            code="tool_server_refused",
            details={"server": endpoint.slug},
        )


@contextlib.asynccontextmanager
async def _session(
    endpoint: McpEndpoint, read_timeout: float
) -> AsyncIterator["Client"]:
    # The SDK (≈ 28 MB with its dependencies) is imported on the first call, not
    # when the web worker starts (issue 18, idle worker memory).
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    if endpoint.public_only:
        await _public_host_check(endpoint)
    async with _http_client(endpoint, read_timeout) as http:
        transport = streamable_http_client(endpoint.url, http_client=http)
        async with Client(transport) as client:
            yield client


def _failure(endpoint: McpEndpoint, exc: BaseException, what: str) -> McpFailure:
    if isinstance(exc, McpFailure):
        return exc
    logger.warning(
        "MCP server call failed",
        extra={"mcpServer": endpoint.slug, "errorType": type(exc).__name__, "op": what},
    )
    if isinstance(exc, TimeoutError):
        return McpFailure(
            "The tool server did not answer in time.",
            code="tool_timeout",
            details={"server": endpoint.slug},
        )
    return McpFailure(details={"server": endpoint.slug})


async def mcp_tools_list(
    endpoint: McpEndpoint, *, refresh: bool = False
) -> list[McpTool]:
    """The server's tools (cached); raises McpFailure when it cannot be listed."""
    key = _cache_key(endpoint)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return cast(list[McpTool], cached)
    timeout = settings.AI_TOOL_TIMEOUT_SECONDS
    try:
        with anyio.fail_after(timeout):
            async with _session(endpoint, timeout) as client:
                listed = (await client.list_tools()).tools
    except Exception as exc:  # the SDK raises many kinds; all mean "unavailable"
        cache.delete(key)
        raise _failure(endpoint, exc, "list_tools") from exc
    tools = [
        McpTool(
            name=tool.name,
            description=(tool.description or tool.title or tool.name)[:1024],
            input_schema=tool.input_schema or {"type": "object", "properties": {}},
        )
        for tool in listed[: settings.AI_MCP_MAX_TOOLS_PER_SERVER]
    ]
    cache.set(key, tools, settings.AI_MCP_TOOLS_CACHE_SECONDS)
    return tools


def mcp_tools_forget(endpoint: McpEndpoint) -> None:
    """Drop the cached list (after a failed call the server may have changed)."""
    cache.delete(_cache_key(endpoint))


def _result_text(result: Any) -> str:
    from mcp.types import TextContent

    if result.structured_content is not None and not result.is_error:
        return json.dumps(result.structured_content, ensure_ascii=False, default=str)
    parts = []
    for block in result.content or []:
        if isinstance(block, TextContent):
            parts.append(block.text)
        else:  # images, audio, resources: say what came, not the bytes
            parts.append(f"[{getattr(block, 'type', 'content')} omitted]")
    return "\n".join(parts)


async def mcp_tool_call(
    endpoint: McpEndpoint, *, name: str, arguments: dict[str, Any], timeout: float
) -> ToolOutput:
    """Call one tool; the tool's own errors come back as `is_error` output.

    Raises McpFailure (`tool_timeout` past `timeout`) when the server itself fails.
    """
    try:
        with anyio.fail_after(timeout):
            async with _session(endpoint, timeout) as client:
                result = await client.call_tool(name, arguments)
    except Exception as exc:
        mcp_tools_forget(endpoint)
        raise _failure(endpoint, exc, "call_tool") from exc
    if result.is_error:
        mcp_tools_forget(endpoint)  # an unknown tool means our list is stale
    return ToolOutput(_result_text(result), bool(result.is_error))
