"""Builders of provider-shaped objects and our rows, for billing tests."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.models import Plan, Provider, Subscription, SubscriptionStatus
from flowmatik.testing.payments import LS_VARIANTS, STRIPE_PRICES

__all__ = ["LS_VARIANTS", "STRIPE_PRICES"]

_ids = itertools.count(1)


def stripe_subscription(
    *,
    sub_id: str | None = None,
    customer: str = "cus_test",
    price: str = STRIPE_PRICES["starter"],
    status: str = "active",
    period_end: datetime | None = None,
    cancel_at_period_end: bool = False,
    user_id: int | None = None,
    plan: str | None = None,
) -> dict[str, Any]:
    """A Stripe Subscription object as API version basil+ shapes it."""
    period_end = period_end or datetime.now(tz=UTC) + timedelta(days=30)
    metadata = {}
    if user_id is not None:
        metadata["user_id"] = str(user_id)
    if plan:
        metadata["plan"] = plan
    sub_id = sub_id or f"sub_{next(_ids)}"
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": None,
        "metadata": metadata,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "price": {"id": price, "object": "price"},
                    "current_period_start": int(
                        (period_end - timedelta(days=30)).timestamp()
                    ),
                    "current_period_end": int(period_end.timestamp()),
                }
            ],
        },
    }


def ls_subscription(
    *,
    sub_id: str | None = None,
    customer_id: int = 7,
    variant_id: str = LS_VARIANTS["starter"],
    status: str = "active",
    renews_at: datetime | None = None,
    ends_at: datetime | None = None,
    updated_at: datetime | None = None,
    card_brand: str = "visa",
    card_last_four: str = "4242",
) -> dict[str, Any]:
    """A LemonSqueezy `subscriptions` JSON:API resource object."""
    now = datetime.now(tz=UTC)
    renews_at = renews_at or now + timedelta(days=30)

    def iso(value: datetime | None) -> str | None:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None

    sub_id = sub_id or str(next(_ids))
    return {
        "type": "subscriptions",
        "id": sub_id,
        "attributes": {
            "store_id": 1,
            "customer_id": customer_id,
            "order_id": 1,
            "product_id": 1,
            "variant_id": int(variant_id),
            "status": status,
            "cancelled": status == "cancelled",
            "card_brand": card_brand,
            "card_last_four": card_last_four,
            "renews_at": iso(renews_at),
            "ends_at": iso(ends_at),
            "trial_ends_at": None,
            "urls": {
                "update_payment_method": f"https://fake.lemonsqueezy.test/pm/{sub_id}",
                "customer_portal": f"https://fake.lemonsqueezy.test/portal/{sub_id}",
            },
            "created_at": iso(now),
            "updated_at": iso(updated_at or now),
            "test_mode": True,
        },
    }


def subscription_row(
    *,
    user,
    plan: str = "starter",
    provider: str = Provider.STRIPE,
    status: str = SubscriptionStatus.ACTIVE,
    external_id: str | None = None,
    customer_id: str = "cus_test",
    period_end: datetime | None = None,
    cancel_at_period_end: bool = False,
) -> Subscription:
    live = status in (
        SubscriptionStatus.TRIALING,
        SubscriptionStatus.ACTIVE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.PAUSED,
        SubscriptionStatus.INCOMPLETE,
    )
    return Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(slug=plan),
        provider=provider,
        external_id=external_id or f"sub_row_{next(_ids)}",
        external_customer_id=customer_id,
        status=status,
        provider_status=status,
        current_period_end=period_end or datetime.now(tz=UTC) + timedelta(days=30),
        cancel_at_period_end=cancel_at_period_end,
        live_user=user.pk if live else None,
    )
