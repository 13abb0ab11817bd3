"""The one ASGI application: HTTP to Django (and /mcp to the MCP server),
WebSocket to Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flowmatik.settings.base")
django_asgi_app = get_asgi_application()  # before importing anything that uses models

from asgiref.sync import sync_to_async  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from ai.mcp_server.asgi import (  # noqa: E402
    McpMount,
    is_mcp_metadata_path,
    is_mcp_path,
)
from flowmatik.heap import heap_freeze  # noqa: E402
from flowmatik.http_body import ChunkedBodyMiddleware  # noqa: E402
from flowmatik.lean_handler import LeanASGIHandler, is_lean_path  # noqa: E402
from flowmatik.metrics import metrics_flush  # noqa: E402
from flowmatik.overload import AiConcurrencyLimit  # noqa: E402
from flowmatik.warmup import web_process_warm  # noqa: E402
from flowmatik.websocket_routing import websocket_urlpatterns  # noqa: E402
from flowmatik.ws_auth import TokenAuthMiddleware  # noqa: E402
from flowmatik.ws_close import ChannelLayerFailureClose  # noqa: E402
from usage.record_writer import records_flush  # noqa: E402

mcp_mount = McpMount()
# /v1: the same Django, without the sync-only middleware (flowmatik/lean_handler.py)
lean_django_app = LeanASGIHandler()


async def _django_app(scope, receive, send):
    """Django's handler for /v1 is the lean one; every other path gets the whole
    middleware chain."""
    if is_lean_path(scope.get("path", "")):
        await lean_django_app(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


# One concurrency limit in front of both handlers (its count is per process)
django_http_app = AiConcurrencyLimit(ChunkedBodyMiddleware(_django_app))


async def lifespan_app(scope, receive, send):
    """Answer the ASGI lifespan protocol (uvicorn with lifespan on): warm the
    process (`flowmatik.warmup`: URLconf, tasks, Celery), then freeze the start-up
    heap (`flowmatik.heap`, the warm-up's objects included); at exit, stop the MCP
    session manager (started by the first /mcp request, not here: a worker that
    serves no /mcp never imports the SDK) and store queued usage records and
    buffered metrics."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await sync_to_async(web_process_warm, thread_sensitive=False)()
            heap_freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await mcp_mount.shutdown()
            # Usage records still queued for the background writer: store them now;
            # metrics still buffered too.
            await sync_to_async(records_flush, thread_sensitive=False)()
            await sync_to_async(metrics_flush, thread_sensitive=False)()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def http_app(scope, receive, send):
    """/mcp (and its protected-resource metadata) to the MCP server, else Django
    (/v1 through the lean handler)."""
    path = scope.get("path", "")
    if is_mcp_path(path) or is_mcp_metadata_path(path):
        await mcp_mount(scope, receive, send)
        return
    await django_http_app(scope, receive, send)


def websocket_application():
    """Origin check against ALLOWED_HOSTS, then token auth, then the routes; a
    channel layer failing under a socket closes it cleanly (1013)."""
    return ChannelLayerFailureClose(
        AllowedHostsOriginValidator(
            TokenAuthMiddleware(URLRouter(websocket_urlpatterns))
        )
    )


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": websocket_application(),
        "lifespan": lifespan_app,
    }
)
