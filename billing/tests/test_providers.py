"""Provider adapters: status mapping and the calls they make to the fakes."""

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import SubscriptionStatus
from billing.providers import lemonsqueezy, stripe
from billing.selectors import subscription_grants_access
from billing.services import (
    subscription_sync_from_lemonsqueezy,
    subscription_sync_from_stripe,
)
from billing.tests.factories import ls_subscription, stripe_subscription


@pytest.mark.parametrize(
    ("provider_status", "ours", "grants"),
    [
        ("trialing", SubscriptionStatus.TRIALING, True),
        ("active", SubscriptionStatus.ACTIVE, True),
        ("past_due", SubscriptionStatus.PAST_DUE, True),
        ("unpaid", SubscriptionStatus.PAST_DUE, False),
        ("incomplete", SubscriptionStatus.INCOMPLETE, False),
        ("incomplete_expired", SubscriptionStatus.EXPIRED, False),
        ("paused", SubscriptionStatus.PAUSED, False),
        ("canceled", SubscriptionStatus.CANCELED, False),
    ],
)
def test_stripe_statuses_map_to_ours(
    user, billing_prices, provider_status, ours, grants
):
    sub = subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription(user_id=user.pk, status=provider_status)
    )
    assert sub.status == ours
    assert subscription_grants_access(subscription=sub) is grants


@pytest.mark.parametrize(
    ("provider_status", "ours", "grants"),
    [
        ("on_trial", SubscriptionStatus.TRIALING, True),
        ("active", SubscriptionStatus.ACTIVE, True),
        ("past_due", SubscriptionStatus.PAST_DUE, True),
        ("unpaid", SubscriptionStatus.PAST_DUE, False),
        ("paused", SubscriptionStatus.PAUSED, False),
        ("cancelled", SubscriptionStatus.ACTIVE, True),  # grace until ends_at
        ("expired", SubscriptionStatus.EXPIRED, False),
    ],
)
def test_lemonsqueezy_statuses_map_to_ours(
    user, billing_prices, provider_status, ours, grants
):
    ends = datetime.now(tz=UTC) + timedelta(days=1)
    sub = subscription_sync_from_lemonsqueezy(
        data=ls_subscription(status=provider_status, ends_at=ends),
        custom_data={"user_id": str(user.pk)},
    )
    assert sub.status == ours
    assert subscription_grants_access(subscription=sub) is grants


def test_stripe_invoice_subscription_reads_the_basil_parent():
    invoice = {
        "id": "in_1",
        "parent": {"subscription_details": {"subscription": "sub_new"}},
        "subscription": None,
    }
    assert stripe.invoice_subscription_id(invoice) == "sub_new"
    assert stripe.invoice_subscription_id(
        {"id": "in_2", "subscription": "sub_old"}
    ) == ("sub_old")


def test_stripe_zero_decimal_currencies_are_whole_units():
    assert str(stripe.money_from_minor(1900, "usd")) == "19.00"
    assert str(stripe.money_from_minor(1900, "jpy")) == "1900"


def test_lemonsqueezy_orders_are_listed_by_email(fake_lemonsqueezy, user):
    response = lemonsqueezy.checkout_create(
        user=user, plan_slug="pro", price_ref="102", success_url="https://x.test/ok"
    )
    checkout_id = response.url.split("/")[-1].split("?")[0]
    fake_lemonsqueezy.complete_checkout(checkout_id)

    orders = lemonsqueezy.order_list(user_email=user.email)
    assert [(o.amount, o.status) for o in orders] == [(39, "paid")]
    assert orders[0].url.startswith(f"{fake_lemonsqueezy.url}/receipt/")
    call = fake_lemonsqueezy.last("GET", "/v1/orders")
    assert call.query["filter"] == {"store_id": "1", "user_email": user.email}
