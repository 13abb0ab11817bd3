"""LemonSqueezy event handlers. Subscription events carry the whole subscription
(billing's sync upserts it by `data.id`, ignoring older `updated_at`); payment events
carry an invoice, so the subscription is re-read from the API first.

Provider calls and LemonSqueezy's shapes go through billing's adapter only.
"""

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from billing import selectors as billing_selectors
from billing import services as billing
from billing.providers import lemonsqueezy as ls_provider
from webhooks_app.handlers import Handler, Payload

logger = logging.getLogger("flowmatik.webhooks_app")

PROVIDER = "lemonsqueezy"


def _attributes(payload: Payload) -> dict[str, Any]:
    return payload["data"].get("attributes") or {}


def _custom_data(payload: Payload) -> dict[str, Any] | None:
    custom = (payload.get("meta") or {}).get("custom_data")
    return custom if isinstance(custom, dict) else None


def _sync(data: dict[str, Any], custom_data: dict[str, Any] | None):
    """Billing upserts by `data.id`, ignores an older `updated_at`, and notifies
    the user (after commit) when the plan or status changed."""
    return billing.subscription_sync_from_lemonsqueezy(
        data=data, custom_data=custom_data
    )


def _apply_subscription(payload: Payload, prepared: Any) -> None:
    _sync(payload["data"], _custom_data(payload))


def _prepare_invoice(payload: Payload) -> dict[str, Any] | None:
    return ls_provider.subscription_current(
        external_id=str(_attributes(payload).get("subscription_id") or "")
    )


def _invoice_subscription(payload: Payload, prepared: dict[str, Any] | None):
    if prepared is None:
        logger.info(
            "Subscription invoice without a readable subscription",
            extra={"invoice_id": payload["data"].get("id")},
        )
        return None
    return _sync(prepared, _custom_data(payload))


def _record_invoice(payload: Payload, subscription, *, status: str) -> None:
    invoice = _attributes(payload)
    billing.payment_record(
        provider=PROVIDER,
        external_id=f"invoice:{payload['data']['id']}",
        user=subscription.user,
        plan=subscription.plan,
        amount=ls_provider.money_from_minor(invoice.get("total")),
        currency=str(invoice.get("currency") or "USD").upper(),
        paid_at=ls_provider.timestamp(invoice.get("created_at"))
        or ls_provider.timestamp(invoice.get("updated_at"))
        or timezone.now(),
        status=status,
    )


def _apply_payment_success(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    if _attributes(payload).get("billing_reason") == "initial":
        return  # the first charge is the order: `order_created` records it
    _record_invoice(payload, subscription, status="paid")


def _apply_payment_failed(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    _record_invoice(payload, subscription, status="failed")
    invoice = _attributes(payload)
    billing.payment_problem_email_queue(
        user=subscription.user,
        key=(f"lemonsqueezy:{payload['data']['id']}:{invoice.get('updated_at') or ''}"),
        action_url=str((invoice.get("urls") or {}).get("invoice_url") or ""),
    )


def _apply_payment_recovered(payload: Payload, prepared: Any) -> None:
    # Always sent alongside `subscription_payment_success`, which records and
    # notifies the payment; here only the subscription's state is refreshed.
    _invoice_subscription(payload, prepared)


def _order_user(payload: Payload):
    user_id = str((_custom_data(payload) or {}).get("user_id") or "")
    if not user_id.isdigit():
        return None
    return get_user_model().objects.filter(pk=int(user_id)).first()


def _apply_order_created(payload: Payload, prepared: Any) -> None:
    order = _attributes(payload)
    if order.get("status") != "paid":
        return
    user = _order_user(payload)
    variant_id = str((order.get("first_order_item") or {}).get("variant_id") or "")
    plan = (
        billing_selectors.plan_for_price_ref(provider=PROVIDER, price_ref=variant_id)
        if variant_id
        else None
    )
    billing.payment_record(
        provider=PROVIDER,
        external_id=f"order:{payload['data']['id']}",
        user=user,
        plan=plan,
        amount=ls_provider.money_from_minor(order.get("total")),
        currency=str(order.get("currency") or "USD").upper(),
        paid_at=ls_provider.timestamp(order.get("created_at"))
        or ls_provider.timestamp(order.get("updated_at"))
        or timezone.now(),
    )


_subscription = Handler(apply=_apply_subscription)

HANDLERS: dict[str, Handler] = {
    "subscription_created": _subscription,
    "subscription_updated": _subscription,
    "subscription_cancelled": _subscription,
    "subscription_resumed": _subscription,
    "subscription_expired": _subscription,
    "subscription_paused": _subscription,
    "subscription_unpaused": _subscription,
    "subscription_payment_success": Handler(
        prepare=_prepare_invoice, apply=_apply_payment_success
    ),
    "subscription_payment_failed": Handler(
        prepare=_prepare_invoice, apply=_apply_payment_failed
    ),
    "subscription_payment_recovered": Handler(
        prepare=_prepare_invoice, apply=_apply_payment_recovered
    ),
    "order_created": Handler(apply=_apply_order_created),
}
