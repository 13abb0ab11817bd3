"""Billing test fixtures: plan prices, and (re-exported) fake provider servers."""

import pytest

from billing.tests.factories import LS_VARIANTS, STRIPE_PRICES


@pytest.fixture
def billing_prices(settings):
    """Price ids for every paid plan, from the environment settings."""
    settings.BILLING_STRIPE_PRICE_IDS = dict(STRIPE_PRICES)
    settings.BILLING_LEMONSQUEEZY_VARIANT_IDS = dict(LS_VARIANTS)
    return settings
