"""Billing test fixtures: plan prices, seeded plans and the fake provider servers."""

import pytest

from billing.testing.fixtures import (  # noqa: F401 (fixtures)
    LS_VARIANTS,
    STRIPE_PRICES,
    fake_lemonsqueezy,
    fake_stripe,
)


@pytest.fixture(autouse=True)
def _plans(db):
    """The four plans (the data migration seeds them; `--nomigrations` does not)."""
    from billing.services import plan_seed_defaults

    plan_seed_defaults()


@pytest.fixture
def billing_prices(settings):
    """Price ids for every paid plan, from the environment settings."""
    settings.BILLING_STRIPE_PRICE_IDS = dict(STRIPE_PRICES)
    settings.BILLING_LEMONSQUEEZY_VARIANT_IDS = dict(LS_VARIANTS)
    return settings
