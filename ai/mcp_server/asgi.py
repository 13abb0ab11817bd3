"""The MCP server mounted in the one ASGI app at /mcp (Streamable HTTP).

The SDK (`mcp`, with starlette and its own models: ≈ 28 MB per process) is
imported, the server built and its session manager started on the first /mcp
request, not at start-up: a web worker that never serves /mcp does not pay for
it (issue 18, idle worker memory). The ASGI lifespan shutdown stops the session
manager when it was started. Host and Origin are checked against ALLOWED_HOSTS
(DNS-rebinding protection).
"""

import asyncio
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from mcp.server.transport_security import TransportSecuritySettings

MCP_PATH = "/mcp"


def transport_security() -> "TransportSecuritySettings":
    """Hosts and origins allowed to reach /mcp: ALLOWED_HOSTS (any port) and
    CSRF_TRUSTED_ORIGINS; a wildcard host turns the check off."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = [h for h in settings.ALLOWED_HOSTS if h]
    if "*" in hosts or any(h.startswith(".") for h in hosts):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    allowed_hosts = [*hosts, *(f"{h}:*" for h in hosts)]
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    origins += [f"{origin}:*" for origin in origins]
    return TransportSecuritySettings(
        allowed_hosts=allowed_hosts,
        allowed_origins=[*origins, *settings.CSRF_TRUSTED_ORIGINS],
    )


class McpMount:
    """The MCP app plus its session manager, built and started once per process,
    on the first request."""

    def __init__(self) -> None:
        self.server: Any = None
        self.app: Any = None
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    def _build(self) -> None:
        from ai.mcp_server.server import server_build

        self.server = server_build()
        self.app = self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            transport_security=transport_security(),
            max_request_body_size=settings.MCP_MAX_REQUEST_BYTES,
        )

    async def ensure_started(self) -> None:
        if self._task is not None:
            return
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._task is not None:
                return
            if self.app is None:
                self._build()
            ready, self._stop = asyncio.Event(), asyncio.Event()
            stop = self._stop

            async def runner() -> None:
                async with self.server.session_manager.run():
                    ready.set()
                    await stop.wait()

            self._task = asyncio.get_running_loop().create_task(runner())
            await ready.wait()

    async def shutdown(self) -> None:
        """Stop the session manager started on this event loop. One started by
        another loop (another server in the same process: a test's live server
        beside a lifespan run) belongs to that loop, and is left running."""
        task, stop = self._task, self._stop
        if task is None or stop is None:
            return
        if task.get_loop() is not asyncio.get_running_loop():
            return
        stop.set()
        await task

    async def __call__(self, scope, receive, send) -> None:
        await self.ensure_started()
        await self.app(scope, receive, send)


def is_mcp_path(path: str) -> bool:
    return path == MCP_PATH or path.startswith(f"{MCP_PATH}/")


def is_mcp_metadata_path(path: str) -> bool:
    """The RFC 9728 protected-resource metadata the 401 points clients to."""
    return path.startswith("/.well-known/oauth-protected-resource")
