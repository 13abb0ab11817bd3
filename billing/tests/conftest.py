"""Billing test fixtures. The fake providers, `billing_prices` and the seed rows
come from the shared plugin (flowmatik/testing/plugin.py)."""

import pytest


@pytest.fixture(autouse=True)
def _database(db):
    """Every billing test may touch the database (the plans are seeded rows)."""
