"""Every notification test starts with new channel-layer objects (no stale groups)."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_layers(fresh_channel_layers):
    """Groups joined by an earlier test's sockets do not receive this test's pushes."""
