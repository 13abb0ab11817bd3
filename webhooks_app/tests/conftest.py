"""Fixtures of the webhooks tests: configured secrets and a plain client."""

import pytest
from django.test import Client

from webhooks_app.tests.helpers import LS_SECRET, STRIPE_SECRET


@pytest.fixture
def webhook_secrets(settings):
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_SECRET
    settings.LEMONSQUEEZY_WEBHOOK_SECRET = LS_SECRET
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    settings.LEMONSQUEEZY_TEST_MODE = True
    return settings


@pytest.fixture
def client() -> Client:
    return Client()
