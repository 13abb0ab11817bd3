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


@pytest.fixture
def prices(settings):
    from billing.tests.factories import LS_VARIANTS, STRIPE_PRICES

    settings.BILLING_STRIPE_PRICE_IDS = dict(STRIPE_PRICES)
    settings.BILLING_LEMONSQUEEZY_VARIANT_IDS = dict(LS_VARIANTS)
    return settings


@pytest.fixture
def fake_stripe(settings, webhook_secrets, prices):
    import stripe

    from webhooks_app.tests.fakes import FakeStripe

    saved = (stripe.api_base, stripe.default_http_client, stripe.max_network_retries)
    fake = FakeStripe()
    settings.STRIPE_API_BASE = fake.base_url
    settings.STRIPE_SECRET_KEY = "sk_test_" + "x" * 30
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT_SECONDS = 5
    try:
        yield fake
    finally:
        fake.close()
        stripe.api_base, stripe.default_http_client, stripe.max_network_retries = saved


@pytest.fixture
def fake_lemonsqueezy(settings, webhook_secrets, prices):
    from webhooks_app.tests.fakes import FakeLemonSqueezy

    fake = FakeLemonSqueezy()
    settings.LEMONSQUEEZY_API_BASE = fake.base_url + "/v1"
    settings.LEMONSQUEEZY_API_KEY = "ls-test-api-key"
    settings.LEMONSQUEEZY_STORE_ID = "1"
    settings.LEMONSQUEEZY_MAX_RETRIES = 0
    yield fake
    fake.close()
