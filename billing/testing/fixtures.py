"""pytest fixtures that start the fake providers and point our settings at them.

Import them into a conftest to use them elsewhere (e.g. webhooks_app/tests):
`from billing.testing.fixtures import fake_lemonsqueezy, fake_stripe  # noqa: F401`
"""

import pytest
import stripe

from billing.testing.fake_lemonsqueezy import FakeLemonSqueezy
from billing.testing.fake_stripe import FakeStripe

STRIPE_PRICES = {
    "starter": "price_starter_test",
    "pro": "price_pro_test",
    "business": "price_business_test",
}
LS_VARIANTS = {"starter": "101", "pro": "102", "business": "103"}
PLAN_CENTS = {"starter": 1900, "pro": 3900, "business": 7900}


@pytest.fixture
def fake_stripe(settings):
    """A running fake Stripe; our settings (key, base, prices) point at it."""
    saved = (stripe.api_base, stripe.default_http_client, stripe.max_network_retries)
    server = FakeStripe().start()
    for slug, price_id in STRIPE_PRICES.items():
        server.add_price(price_id, PLAN_CENTS[slug])
    settings.STRIPE_SECRET_KEY = server.api_key
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_TIMEOUT_SECONDS = 2.0
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.BILLING_STRIPE_PRICE_IDS = dict(STRIPE_PRICES)
    try:
        yield server
    finally:
        server.stop()
        stripe.api_base, stripe.default_http_client, stripe.max_network_retries = saved


@pytest.fixture
def fake_lemonsqueezy(settings):
    """A running fake LemonSqueezy; our settings (key, store, variants) use it."""
    server = FakeLemonSqueezy().start()
    for slug, variant_id in LS_VARIANTS.items():
        server.add_variant(variant_id, PLAN_CENTS[slug], name=slug.title())
    settings.LEMONSQUEEZY_API_KEY = server.api_key
    settings.LEMONSQUEEZY_STORE_ID = server.store_id
    settings.LEMONSQUEEZY_API_BASE = f"{server.url}/v1"
    settings.LEMONSQUEEZY_TIMEOUT_SECONDS = 2.0
    settings.LEMONSQUEEZY_MAX_RETRIES = 2
    settings.LEMONSQUEEZY_RETRY_BACKOFF_SECONDS = 0.01
    settings.BILLING_LEMONSQUEEZY_VARIANT_IDS = dict(LS_VARIANTS)
    try:
        yield server
    finally:
        server.stop()
