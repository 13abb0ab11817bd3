"""What a user does with their subscription: checkout, cancel, resume, change plan.

Each call reaches the provider that owns the subscription outside any database
transaction, then applies the provider's answer through the one sync path.
"""

import logging
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.utils import timezone

from billing.errors import (
    NoSubscription,
    PaymentsNotConfigured,
    PlanNotFound,
    PlanNotPurchasable,
    SubscriptionExists,
    SubscriptionStateConflict,
)
from billing.models import Plan, Provider, Subscription
from billing.providers import provider_module
from billing.selectors import plan_price_ref, subscription_get_live
from billing.services.sync import subscription_end, subscription_sync_remote
from flowmatik.errors import PermissionDenied

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("flowmatik.billing")

# Idempotency window: a retry or double click within it reuses the provider's
# first answer (the same Checkout Session) instead of creating a second one.
IDEMPOTENCY_WINDOW_SECONDS = 600


def _window() -> int:
    return int(datetime.now(tz=UTC).timestamp()) // IDEMPOTENCY_WINDOW_SECONDS


def _idempotency_key(action: str, *parts: object) -> str:
    return ":".join(["fmk", action, *(str(p) for p in parts), str(_window())])


def _configured_module(provider: str) -> ModuleType:
    if provider not in Provider.values:
        raise PlanNotPurchasable(f"Unknown payment provider {provider!r}.")
    module = provider_module(provider)
    if not module.is_configured():
        raise PaymentsNotConfigured(
            f"{Provider(provider).label} payments are not configured on this server.",
            details={"provider": provider},
        )
    return module


def _purchasable_plan(*, slug: str, provider: str) -> tuple[Plan, str]:
    plan = Plan.objects.filter(slug=slug, is_active=True).first()
    if plan is None:
        raise PlanNotFound(details={"plan": slug})
    if plan.is_free:
        raise PlanNotPurchasable("The Free plan needs no subscription.")
    price_ref = plan_price_ref(plan=plan, provider=provider)
    if not price_ref:
        raise PaymentsNotConfigured(
            f"The {plan.name} plan has no {Provider(provider).label} price configured.",
            details={"plan": plan.slug, "provider": provider},
        )
    return plan, price_ref


def subscription_checkout_start(*, user: "User", plan_slug: str, provider: str) -> str:
    """A hosted checkout URL for `plan_slug` at `provider`; 409 if already live."""
    module = _configured_module(provider)
    plan, price_ref = _purchasable_plan(slug=plan_slug, provider=provider)
    if subscription_get_live(user_id=user.pk) is not None:
        raise SubscriptionExists()
    result = module.checkout_create(
        user=user,
        plan_slug=plan.slug,
        price_ref=price_ref,
        success_url=settings.BILLING_SUCCESS_URL,
        cancel_url=settings.BILLING_CANCEL_URL,
        idempotency_key=_idempotency_key("checkout", user.pk, plan.slug, price_ref),
    )
    logger.info(
        "Checkout started",
        extra={"userId": user.pk, "provider": provider, "plan": plan.slug},
    )
    return cast(str, result.url)  # a CheckoutResult


def _live_or_404(user: "User") -> Subscription:
    sub = subscription_get_live(user_id=user.pk)
    if sub is None:
        raise NoSubscription()
    return sub


def subscription_cancel(*, user: "User", immediately: bool = False) -> Subscription:
    """Cancel at period end (or now, for staff) through the owning provider."""
    if immediately and not user.is_staff:
        raise PermissionDenied("Only administrators can cancel immediately.")
    sub = _live_or_404(user)
    module = _configured_module(sub.provider)
    remote = module.subscription_cancel(
        external_id=sub.external_id,
        immediately=immediately,
        idempotency_key=_idempotency_key(
            "cancel-now" if immediately else "cancel", sub.external_id
        ),
    )
    sub, _ = subscription_sync_remote(remote=remote)
    if immediately and sub.is_live:
        # LemonSqueezy only cancels at period end; end access here now. Our
        # stamp is newer than the provider's, so its late echo cannot revive it.
        subscription_end(subscription_id=sub.pk, now=timezone.now())
        sub.refresh_from_db()
    return sub


def subscription_resume(*, user: "User") -> Subscription:
    """Undo a pending cancellation (the period has not ended yet)."""
    sub = _live_or_404(user)
    if not sub.cancel_at_period_end:
        raise SubscriptionStateConflict("The subscription is not being cancelled.")
    module = _configured_module(sub.provider)
    remote = module.subscription_resume(
        external_id=sub.external_id,
        idempotency_key=_idempotency_key("resume", sub.external_id),
    )
    return subscription_sync_remote(remote=remote)[0]


def subscription_change_plan(*, user: "User", plan_slug: str) -> Subscription:
    """Move the live subscription to another paid plan at the same provider."""
    sub = _live_or_404(user)
    module = _configured_module(sub.provider)
    plan, price_ref = _purchasable_plan(slug=plan_slug, provider=sub.provider)
    if plan.pk == sub.plan_id:
        raise SubscriptionStateConflict("You are already on this plan.")
    remote = module.subscription_change_price(
        external_id=sub.external_id,
        price_ref=price_ref,
        idempotency_key=_idempotency_key("change", sub.external_id, price_ref),
    )
    sub, _ = subscription_sync_remote(remote=remote, plan=plan)
    logger.info(
        "Plan changed",
        extra={"userId": user.pk, "provider": sub.provider, "plan": plan.slug},
    )
    return sub


def subscription_portal_url(*, user: "User") -> str:
    """A fresh customer-portal URL from the provider of the user's subscription."""
    sub = subscription_get_live(user_id=user.pk) or (
        Subscription.objects.filter(user_id=user.pk).order_by("-created_at").first()
    )
    if sub is None:
        raise NoSubscription()
    module = _configured_module(sub.provider)
    if sub.provider == Provider.STRIPE:
        if not sub.external_customer_id:
            raise NoSubscription("No Stripe customer is linked to you yet.")
        return cast(
            str,
            module.portal_url(
                customer_id=sub.external_customer_id,
                return_url=settings.BILLING_PORTAL_RETURN_URL,
            ),
        )
    return cast(str, module.portal_url(external_id=sub.external_id))
