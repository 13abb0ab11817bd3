"""Fixtures of the realtime tests: WebSocket communicators on the in-process app.

The live server (`live_asgi`), credentials and the demo model come from the shared
plugin (flowmatik/testing/plugin.py).
"""

import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

# Kept importable from here for tests written against this conftest.
from flowmatik.testing.auth import api_key_for, jwt_for

__all__ = ["api_key_for", "communicator", "jwt_for"]

ORIGIN_HEADERS = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


@pytest.fixture(autouse=True)
def _fresh_channel_layers():
    """Each test gets new layer objects (groups of old tests do not leak)."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def communicator(
    path: str, *, token: str | None = None, via: str = "subprotocol", application=None
) -> WebsocketCommunicator:
    from flowmatik.asgi import application as default_application

    subprotocols = None
    if token and via == "subprotocol":
        subprotocols = ["bearer", token]
    elif token:
        path = f"{path}?token={token}"
    return WebsocketCommunicator(
        application or default_application,
        path,
        headers=ORIGIN_HEADERS,
        subprotocols=subprotocols,
    )


@pytest.fixture(autouse=True)
def _ai_settings(ai_demo):
    """The chat socket runs the real gateway against the demo model."""
