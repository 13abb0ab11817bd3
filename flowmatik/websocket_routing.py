"""WebSocket routes of every app, collected in one list for `asgi.py`."""

from django.urls import path

from ai.consumers import ChatConsumer
from dashboard.consumers import NotificationConsumer

websocket_urlpatterns: list = [
    path("ws/chat/", ChatConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
]
