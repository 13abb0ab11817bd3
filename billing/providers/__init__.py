"""Payment provider adapters: the only modules that talk to Stripe or LemonSqueezy.

Each adapter module exposes the same functions and returns the plain types below;
`provider_module(name)` picks one. Provider errors leave as `billing.errors` types.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class ProviderSubscription:
    """A provider's subscription, translated into our vocabulary."""

    provider: str
    external_id: str
    customer_id: str
    status: str  # a billing.models.SubscriptionStatus value
    provider_status: str
    price_ref: str  # Stripe price id or LemonSqueezy variant id
    current_period_end: datetime | None
    cancel_at_period_end: bool
    updated_at: datetime | None  # provider's own timestamp, when it has one
    user_id: int | None = None  # from metadata / custom data, when present
    card_brand: str = ""
    card_last4: str = ""
    portal_url: str = ""


@dataclass(frozen=True)
class CheckoutResult:
    url: str
    external_id: str
    customer_id: str = ""


@dataclass(frozen=True)
class ProviderInvoice:
    provider: str
    external_id: str
    number: str
    created_at: datetime
    amount: Decimal
    currency: str
    status: str
    url: str  # PDF or receipt


@dataclass(frozen=True)
class ProviderPaymentMethod:
    provider: str
    brand: str
    last4: str
    exp_month: int | None = None
    exp_year: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def provider_module(name: str) -> ModuleType:
    """The adapter module for `name` ("stripe" or "lemonsqueezy")."""
    if name == "stripe":
        from billing.providers import stripe

        return stripe
    if name == "lemonsqueezy":
        from billing.providers import lemonsqueezy

        return lemonsqueezy
    raise ValueError(f"Unknown payment provider {name!r}")
