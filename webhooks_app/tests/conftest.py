"""Fixtures of the webhooks tests: a plain (non-DRF) client.

`webhook_secrets`, `billing_prices` and the fake providers come from the shared
plugin (flowmatik/testing/plugin.py).
"""

import pytest
from django.test import Client


@pytest.fixture
def client() -> Client:
    return Client()
