"""Fixtures of the chat-socket tests: the chat gateway runs against the demo model.

WebSocket communicators come from `flowmatik.testing.websockets`; the live server,
credentials and the demo model from the shared plugin (flowmatik/testing/plugin.py).
"""

import pytest


@pytest.fixture(autouse=True)
def _ai_settings(ai_demo):
    """The chat socket runs the real gateway against the demo model."""


@pytest.fixture(autouse=True)
def _fresh_layers(fresh_channel_layers):
    """Each socket test starts with new channel-layer objects."""
