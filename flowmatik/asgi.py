"""The one ASGI application: HTTP to Django, WebSocket to Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flowmatik.settings.base")
django_asgi_app = get_asgi_application()  # before importing anything that uses models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from flowmatik.http_body import ChunkedBodyMiddleware  # noqa: E402
from flowmatik.websocket_routing import websocket_urlpatterns  # noqa: E402
from flowmatik.ws_auth import TokenAuthMiddleware  # noqa: E402


async def lifespan_app(scope, receive, send):
    """Answer the ASGI lifespan protocol so uvicorn starts cleanly with lifespan on."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def websocket_application():
    """Origin check against ALLOWED_HOSTS, then token auth, then the routes."""
    return AllowedHostsOriginValidator(
        TokenAuthMiddleware(URLRouter(websocket_urlpatterns))
    )


application = ProtocolTypeRouter(
    {
        "http": ChunkedBodyMiddleware(django_asgi_app),
        "websocket": websocket_application(),
        "lifespan": lifespan_app,
    }
)
