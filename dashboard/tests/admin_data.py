"""A small business the staff-API tests measure: users, plans, payments, AI usage.

Time is frozen at NOW (the 20th, so "this month" holds every dated row except
alice's sign-up and her usage on the 1st of last month).
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from accounts.models import User
from accounts.tests.factories import UserFactory
from billing.models import Payment, PaymentStatus, Provider
from billing.tests.factories import subscription_row
from usage.services import usage_record_store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_keys = itertools.count(1)


def usage_call(
    user: User,
    *,
    at: datetime,
    cost: str,
    tokens: int = 100,
    status: str = "success",
    model: str = "demo-chat",
    endpoint: str = "chat",
) -> None:
    """One AI call stored through usage's own writer (record + rollups)."""
    usage_record_store(
        payload={
            "kind": "usage",
            "event_key": f"admin-test-{next(_keys)}",
            "user_id": user.pk,
            "api_key_id": None,
            "endpoint": endpoint,
            "model": model,
            "provider": "demo",
            "status": status,
            "prompt_tokens": tokens // 2,
            "completion_tokens": tokens - tokens // 2,
            "cost": cost,
            "currency": "USD",
            "latency_ms": 120,
            "request_id": f"req_admin_{next(_keys)}",
            "error_code": "" if status != "error" else "upstream_error",
            "estimated": False,
            "created_at": at.isoformat(),
        }
    )


def payment(
    user: User | None,
    *,
    provider: str,
    amount: str,
    currency: str = "USD",
    at: datetime,
    status: str = PaymentStatus.PAID,
) -> Payment:
    return Payment.objects.create(
        provider=provider,
        external_id=f"pay_{next(_keys)}",
        user=user,
        amount=Decimal(amount),
        currency=currency,
        status=status,
        paid_at=at,
    )


@dataclass
class Business:
    alice: User  # Pro on Stripe, joined 40 days ago, the biggest AI spender
    bob: User  # Starter on LemonSqueezy, joined 3 days ago
    carol: User  # Free, joined today, deactivated
    dave: User  # Free, joined 10 days ago, no usage


def build_business() -> Business:
    alice = UserFactory(
        email="alice@example.com",
        name="Alice Admin-Free",
        date_joined=NOW - timedelta(days=40),
    )
    bob = UserFactory(
        email="bob@example.com", name="Bob Builder", date_joined=NOW - timedelta(days=3)
    )
    carol = UserFactory(
        email="carol@example.com",
        name="Carol",
        date_joined=NOW - timedelta(hours=2),
        is_active=False,
    )
    dave = UserFactory(
        email="dave@example.com", name="Dave", date_joined=NOW - timedelta(days=10)
    )
    subscription_row(user=alice, plan="pro", provider=Provider.STRIPE)
    subscription_row(user=bob, plan="starter", provider=Provider.LEMONSQUEEZY)

    # AI usage: alice 3 calls today (0.30 each) + 1 failed, 2 calls on the 19th
    # (1.00 each), 1 call last month (5.00); bob 1 call today (0.05).
    for _ in range(3):
        usage_call(alice, at=NOW - timedelta(hours=1), cost="0.30", tokens=100)
    usage_call(alice, at=NOW - timedelta(hours=1), cost="0", tokens=0, status="error")
    for _ in range(2):
        usage_call(alice, at=NOW - timedelta(days=1), cost="1.00", tokens=1000)
    usage_call(alice, at=NOW - timedelta(days=30), cost="5.00", tokens=5000)
    usage_call(bob, at=NOW - timedelta(minutes=30), cost="0.05", tokens=50)

    # Payments: today 39 USD (Stripe) + 19 USD (LemonSqueezy); on the 10th 10 EUR
    # (Stripe); last month 39 USD; a failed and a refunded one that never count.
    payment(
        alice, provider=Provider.STRIPE, amount="39.00", at=NOW - timedelta(hours=3)
    )
    payment(
        bob, provider=Provider.LEMONSQUEEZY, amount="19.00", at=NOW - timedelta(hours=1)
    )
    payment(
        alice,
        provider=Provider.STRIPE,
        amount="10.00",
        currency="EUR",
        at=NOW - timedelta(days=10),
    )
    payment(
        alice, provider=Provider.STRIPE, amount="39.00", at=NOW - timedelta(days=31)
    )
    payment(
        bob,
        provider=Provider.STRIPE,
        amount="79.00",
        at=NOW - timedelta(hours=2),
        status=PaymentStatus.FAILED,
    )
    payment(
        dave,
        provider=Provider.LEMONSQUEEZY,
        amount="19.00",
        at=NOW - timedelta(hours=2),
        status=PaymentStatus.REFUNDED,
    )
    return Business(alice=alice, bob=bob, carol=carol, dave=dave)
