"""Keep our subscriptions in step with the providers (webhooks and API reads).

Every path ends in `subscription_sync_remote`: an upsert keyed on the provider's
subscription id, under a row lock, that ignores data older than what is stored
(webhooks arrive out of order) and derives the user's plan from provider state
only. Side effects (plan cache, notifications) run after commit.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from billing.errors import BillingError, PaymentProviderRejected
from billing.models import (
    LIVE_STATUSES,
    Plan,
    Provider,
    Subscription,
    SubscriptionStatus,
)
from billing.providers import ProviderSubscription, provider_module
from billing.providers import lemonsqueezy as lemonsqueezy_provider
from billing.providers import stripe as stripe_provider
from billing.selectors import plan_for_price_ref
from billing.services.notify import after_commit_notify, after_commit_plan_changed

logger = logging.getLogger("flowmatik.billing")


class SubscriberUnknown(BillingError):
    """No user can be found for a provider subscription (yet)."""

    status_code, code = 422, "subscriber_unknown"
    default_message = gettext_noop("No user is linked to this subscription.")


class SubscriptionPlanUnknown(BillingError):
    status_code, code = 422, "subscription_plan_unknown"
    default_message = gettext_noop("The subscription's price matches no plan.")


_TRACKED = (
    "plan_id",
    "status",
    "cancel_at_period_end",
    "current_period_end",
    "live_user",
)


@dataclass(frozen=True)
class _Snapshot:
    values: tuple[Any, ...]

    @classmethod
    def of(cls, sub: Subscription | None) -> "_Snapshot | None":
        if sub is None:
            return None
        return cls(tuple(getattr(sub, f) for f in _TRACKED))


def _is_stale(existing: Subscription, remote: ProviderSubscription) -> bool:
    stored, incoming = existing.provider_updated_at, remote.updated_at
    if stored is None or incoming is None:
        return False
    if incoming < stored:
        return True
    # Same second (Stripe event times are whole seconds): never step back to
    # `incomplete` from a state the provider reached later in that second.
    return (
        incoming == stored
        and remote.status == SubscriptionStatus.INCOMPLETE
        and existing.status != SubscriptionStatus.INCOMPLETE
    )


def _user_exists(user_id: int | None) -> bool:
    from accounts.models import User

    return user_id is not None and User.objects.filter(pk=user_id).exists()


def _resolve_user_id(
    remote: ProviderSubscription, existing: Subscription | None
) -> int | None:
    if existing is not None:
        return existing.user_id
    if _user_exists(remote.user_id):
        return remote.user_id
    if remote.customer_id:
        known = (
            Subscription.objects.filter(
                provider=remote.provider, external_customer_id=remote.customer_id
            )
            .values_list("user_id", flat=True)
            .first()
        )
        if known is not None:
            return known
        if remote.provider == Provider.STRIPE:
            linked = stripe_provider.customer_user_id(customer_id=remote.customer_id)
            if _user_exists(linked):
                return linked
    return None


def _claim_live_slot(sub: Subscription) -> None:
    """Set `live_user` when the subscription is live and the user's slot is free."""
    if sub.status not in LIVE_STATUSES:
        sub.live_user = None
        return
    if sub.live_user == sub.user_id:
        return
    holder = (
        Subscription.objects.select_for_update()
        .filter(live_user=sub.user_id)
        .exclude(pk=sub.pk)
        .first()
    )
    if holder is None:
        sub.live_user = sub.user_id
        return
    sub.live_user = None
    logger.error(
        "Second live subscription for one user; kept unlinked for staff to refund",
        extra={
            "userId": sub.user_id,
            "provider": sub.provider,
            "subscription": sub.external_id,
            "holder": holder.external_id,
        },
    )


def _save_holding_slot(sub: Subscription) -> None:
    """Save; if a concurrent writer took the user's slot first, save unlinked.

    The unique index on `live_user` is the arbiter between concurrent syncs.
    """
    try:
        with transaction.atomic():
            sub.save()
    except IntegrityError:
        if sub.live_user is None:
            raise
        logger.error(
            "Lost the live slot to a concurrent subscription; kept unlinked",
            extra={"userId": sub.user_id, "subscription": sub.external_id},
        )
        sub.live_user = None
        sub.save()


def _promote_waiting(user_id: int) -> None:
    """After the slot is freed, hand it to a live but unlinked subscription."""
    if Subscription.objects.filter(live_user=user_id).exists():
        return
    waiting = (
        Subscription.objects.select_for_update()
        .filter(user_id=user_id, live_user__isnull=True)
        .filter(status__in=[s.value for s in LIVE_STATUSES])
        .order_by("-created_at", "-id")
        .first()
    )
    if waiting is not None:
        waiting.live_user = user_id
        waiting.save(update_fields=["live_user", "updated_at"])


def _after_change(sub: Subscription, before: "_Snapshot | None") -> None:
    after_commit_plan_changed(user_id=sub.user_id)
    if before is not None and before == _Snapshot.of(sub):
        return
    if before is None and sub.status not in LIVE_STATUSES:
        return  # first seen already ended (reconciling history): nothing to tell
    from notifications.models import NotificationKind

    if sub.status in LIVE_STATUSES and sub.cancel_at_period_end:
        title = f"Your {sub.plan.name} plan ends at the end of the period"
    elif sub.status in LIVE_STATUSES:
        title = f"Your {sub.plan.name} plan is {sub.get_status_display().lower()}"
    else:
        title = "Your subscription has ended; you are on the Free plan"
    after_commit_notify(
        user_id=sub.user_id,
        kind=NotificationKind.SUBSCRIPTION_CHANGED,
        title=title,
        data={
            "plan": sub.plan.slug,
            "status": sub.status,
            "provider": sub.provider,
            "cancel_at_period_end": sub.cancel_at_period_end,
            "current_period_end": (
                sub.current_period_end.isoformat() if sub.current_period_end else None
            ),
        },
    )


def subscription_sync_remote(
    *,
    remote: ProviderSubscription,
    user_id: int | None = None,
    plan: Plan | None = None,
) -> tuple[Subscription, bool]:
    """Upsert our subscription from provider state; (subscription, changed).

    `user_id`/`plan` are fallbacks when the provider data cannot name them.
    Older data than what is stored is ignored (returns the stored row unchanged).
    """
    with transaction.atomic():
        existing = (
            Subscription.objects.select_for_update()
            .select_related("plan")
            .filter(provider=remote.provider, external_id=remote.external_id)
            .first()
        )
        if existing is not None and _is_stale(existing, remote):
            logger.info(
                "Ignored stale subscription data",
                extra={"provider": remote.provider, "subscription": remote.external_id},
            )
            return existing, False
        resolved_user = _resolve_user_id(remote, existing)
        if resolved_user is None and _user_exists(user_id):
            resolved_user = user_id
        if resolved_user is None:
            raise SubscriberUnknown(
                details={
                    "provider": remote.provider,
                    "subscription": remote.external_id,
                }
            )
        new_plan = plan_for_price_ref(
            provider=remote.provider, price_ref=remote.price_ref
        )
        if new_plan is None and remote.price_ref:
            logger.warning(
                "Subscription price matches no plan; keeping the known plan",
                extra={"provider": remote.provider, "price": remote.price_ref},
            )
        new_plan = new_plan or (existing.plan if existing else None) or plan
        if new_plan is None:
            raise SubscriptionPlanUnknown(
                details={"provider": remote.provider, "price": remote.price_ref}
            )
        before = _Snapshot.of(existing)
        sub = existing or Subscription(
            user_id=resolved_user,
            provider=remote.provider,
            external_id=remote.external_id,
        )
        was_live = sub.live_user is not None
        sub.plan = new_plan
        sub.external_customer_id = remote.customer_id or sub.external_customer_id
        sub.status = remote.status
        sub.provider_status = remote.provider_status
        sub.current_period_end = remote.current_period_end
        sub.cancel_at_period_end = remote.cancel_at_period_end
        if remote.card_last4:
            sub.card_brand, sub.card_last4 = remote.card_brand, remote.card_last4
        if remote.updated_at is not None:
            sub.provider_updated_at = remote.updated_at
        if sub.status not in LIVE_STATUSES and sub.ended_at is None:
            sub.ended_at = timezone.now()
        elif sub.status in LIVE_STATUSES:
            sub.ended_at = None
        _claim_live_slot(sub)
        _save_holding_slot(sub)
        if was_live and sub.live_user is None:
            _promote_waiting(sub.user_id)
        changed = before is None or before != _Snapshot.of(sub)
        _after_change(sub, before)
    if changed:
        logger.info(
            "Subscription synced",
            extra={
                "userId": sub.user_id,
                "provider": sub.provider,
                "subscription": sub.external_id,
                "status": sub.status,
                "plan": new_plan.slug,
            },
        )
    return sub, changed


def subscription_sync_from_stripe(
    *, stripe_subscription: dict[str, Any], event_created: datetime | None = None
) -> Subscription:
    """Apply a full Stripe Subscription object (webhook payload or API read).

    `event_created` is the Stripe event's time; data older than what is stored is
    ignored. Without it the object counts as read from the API just now.
    """
    stripe_subscription = stripe_provider.plain(stripe_subscription)
    remote = stripe_provider.parse_subscription(
        stripe_subscription, updated_at=event_created or timezone.now()
    )
    plan_slug = (stripe_subscription.get("metadata") or {}).get("plan")
    fallback_plan = Plan.objects.filter(slug=plan_slug).first() if plan_slug else None
    return subscription_sync_remote(remote=remote, plan=fallback_plan)[0]


def subscription_sync_from_lemonsqueezy(
    *, data: dict[str, Any], custom_data: dict[str, Any] | None = None
) -> Subscription:
    """Apply a LemonSqueezy `subscriptions` resource object (webhook or API read).

    The user comes from `custom_data.user_id` (a string in webhooks) or from the
    stored subscription; `attributes.updated_at` guards against stale deliveries.
    """
    remote = lemonsqueezy_provider.parse_subscription(data, custom_data=custom_data)
    plan_slug = (custom_data or {}).get("plan")
    fallback_plan = Plan.objects.filter(slug=plan_slug).first() if plan_slug else None
    return subscription_sync_remote(remote=remote, plan=fallback_plan)[0]


def checkout_session_completed_stripe(*, session: dict[str, Any]) -> None:
    """Link a completed Checkout Session's customer and subscription to our user.

    Grants nothing by itself: a subscription first seen here is stored as
    `incomplete` (no access) and any later provider data overrides it.
    """
    session = stripe_provider.plain(session)
    metadata = session.get("metadata") or {}
    raw_user = session.get("client_reference_id") or metadata.get("user_id")
    user_id = int(str(raw_user)) if str(raw_user or "").isdigit() else None
    customer_id = stripe_provider.object_id(session.get("customer"))
    subscription_id = stripe_provider.object_id(session.get("subscription"))
    if user_id is None or not _user_exists(user_id):
        logger.warning(
            "Checkout session for an unknown user",
            extra={"checkout_session": session.get("id")},
        )
        return
    from accounts.models import User

    if customer_id:
        stripe_provider.customer_link(
            customer_id=customer_id,
            user=User(pk=user_id),
            livemode=bool(session.get("livemode")),
        )
    if not subscription_id or session.get("mode") not in (None, "subscription"):
        return
    plan = Plan.objects.filter(slug=metadata.get("plan") or "").first()
    if plan is None:
        logger.warning(
            "Checkout session names no known plan",
            extra={"checkout_session": session.get("id")},
        )
        return
    with transaction.atomic():
        exists = (
            Subscription.objects.select_for_update()
            .filter(provider=Provider.STRIPE, external_id=subscription_id)
            .exists()
        )
        if exists:
            return
        sub = Subscription(
            user_id=user_id,
            plan=plan,
            provider=Provider.STRIPE,
            external_id=subscription_id,
            external_customer_id=customer_id,
            status=SubscriptionStatus.INCOMPLETE,
            provider_status="incomplete",
        )
        _claim_live_slot(sub)
        _save_holding_slot(sub)
        after_commit_plan_changed(user_id=user_id)


def subscription_refresh(*, subscription_id: int) -> Subscription:
    """Re-read one subscription from its provider and apply it (staff action)."""
    sub = Subscription.objects.get(pk=subscription_id)
    module = provider_module(sub.provider)
    remote = module.subscription_get(external_id=sub.external_id)
    return subscription_sync_remote(remote=remote)[0]


def subscription_reconcile(*, provider: str) -> int:
    """Re-read subscriptions from the provider's API and fix drift; count fixed.

    Lists the provider's live subscriptions, then re-reads each of our live ones
    the list did not mention (it may have ended while a webhook was lost).
    """
    module = provider_module(provider)
    if not module.is_configured():
        return 0
    fixed, seen = 0, set()
    for remote in module.subscription_list():
        seen.add(remote.external_id)
        if remote.status not in LIVE_STATUSES and not (
            Subscription.objects.filter(
                provider=provider, external_id=remote.external_id
            ).exists()
        ):
            continue  # history we never knew: nothing to fix
        try:
            _, changed = subscription_sync_remote(remote=remote)
        except (SubscriberUnknown, SubscriptionPlanUnknown) as exc:
            logger.warning(
                "Reconciliation skipped a subscription",
                extra={
                    "provider": provider,
                    "subscription": remote.external_id,
                    "reason": exc.code,
                },
            )
            continue
        fixed += int(changed)
    ours = (
        Subscription.objects.filter(provider=provider)
        .filter(status__in=[s.value for s in LIVE_STATUSES])
        .exclude(external_id__in=seen)
        .values_list("external_id", flat=True)
    )
    for external_id in list(ours):
        try:
            remote = module.subscription_get(external_id=external_id)
        except PaymentProviderRejected as exc:
            # Unknown at the provider (wrong key or mode?): report, never guess.
            logger.error(
                "Live subscription unknown at its provider",
                extra={
                    "provider": provider,
                    "subscription": external_id,
                    "details": exc.details,
                },
            )
            continue
        _, changed = subscription_sync_remote(remote=remote)
        fixed += int(changed)
    logger.info(
        "Reconciled subscriptions", extra={"provider": provider, "fixed": fixed}
    )
    return fixed


def subscriptions_reconcile_all() -> dict[str, int]:
    """Fix drift for each configured provider; fixes per provider.

    One provider failing does not stop the other; the first error is raised after
    both ran, so the periodic task shows it.
    """
    results: dict[str, int] = {}
    errors: list[Exception] = []
    for provider in Provider:
        if not provider_module(provider.value).is_configured():
            continue
        try:
            results[provider.value] = subscription_reconcile(provider=provider.value)
        except Exception as exc:
            logger.exception(
                "Subscription reconciliation failed", extra={"provider": provider.value}
            )
            errors.append(exc)
    logger.info("Subscriptions reconciled", extra={"fixed": results})
    if errors:
        raise errors[0]
    return results


def subscription_end(*, subscription_id: int, now: datetime | None = None) -> bool:
    """End a live subscription now (user drops to Free); False if already ended."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = (
            Subscription.objects.select_for_update()
            .select_related("plan")
            .filter(pk=subscription_id, status__in=[s.value for s in LIVE_STATUSES])
            .first()
        )
        if sub is None:
            return False
        before = _Snapshot.of(sub)
        sub.status = (
            SubscriptionStatus.EXPIRED
            if sub.provider == Provider.LEMONSQUEEZY
            else SubscriptionStatus.CANCELED
        )
        sub.ended_at = now
        sub.live_user = None
        sub.provider_updated_at = max(now, sub.provider_updated_at or now)
        sub.save()
        _promote_waiting(sub.user_id)
        _after_change(sub, before)
    return True


def subscription_expire_due(*, now: datetime | None = None) -> int:
    """Cancelled subscriptions past their period end end now (user drops to Free)."""
    now = now or timezone.now()
    due_ids = list(
        Subscription.objects.filter(
            status__in=[s.value for s in LIVE_STATUSES],
            cancel_at_period_end=True,
            current_period_end__lte=now,
        ).values_list("pk", flat=True)
    )
    expired = sum(int(subscription_end(subscription_id=pk, now=now)) for pk in due_ids)
    if expired:
        logger.info("Expired cancelled subscriptions", extra={"count": expired})
    return expired
