"""WebSocket routes of every app, collected in one list for `asgi.py`."""

from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from ai.consumers import ChatConsumer
from notifications.consumers import NotificationConsumer

websocket_urlpatterns: list = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    # Last: any other path is refused at the handshake (HTTP 403) instead of
    # URLRouter raising "No route found" inside the server.
    re_path(r"", WebsocketDenier.as_asgi()),
]
