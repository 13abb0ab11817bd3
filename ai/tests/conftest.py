"""Fixtures of the ai tests: every test talks to the demo model over real HTTP.

The demo model, the live platform (`live_asgi`), the MCP test server, credentials
and seed rows come from the shared plugin (flowmatik/testing/plugin.py).
"""

import pytest

# Kept importable from here for tests written against this conftest.
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.servers import wait_for

__all__ = ["jwt_for", "wait_for"]


@pytest.fixture(autouse=True)
def _ai_settings(ai_demo):
    """Every ai test runs against the demo model, never a real provider."""


@pytest.fixture(autouse=True)
def _fresh_layers(fresh_channel_layers):
    """Each test's in-process sockets get channel-layer objects of their own: with
    channels-redis, a layer still receiving for an earlier test's consumer on
    another event loop refuses a second loop ("Two event loops are trying to
    receive() on one channel layer at once")."""


@pytest.fixture
def settle_spy(monkeypatch):
    """Every `usage_settle` call (the real one still runs)."""
    from usage import services as usage_services

    calls = []
    real = usage_services.usage_settle

    async def spy(*, reservation, event):
        calls.append(event)
        return await real(reservation=reservation, event=event)

    monkeypatch.setattr(usage_services, "usage_settle", spy)
    return calls
