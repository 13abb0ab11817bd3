"""Stripe event handlers: dj-stripe syncs its objects first, then billing's services
update our subscription and payments from the object's current state."""

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing import services as billing
from webhooks_app import notifications
from webhooks_app.handlers import Handler, Payload
from webhooks_app.handlers.state import subscription_state
from webhooks_app.providers import stripe as stripe_provider

logger = logging.getLogger("flowmatik.webhooks_app")

PROVIDER = "stripe"
# Currencies Stripe counts in whole units (no minor unit).
_ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
    "vnd", "vuv", "xaf", "xof", "xpf",
}  # fmt: skip


def _object(payload: Payload) -> dict[str, Any]:
    return payload["data"]["object"]


def _ts(value: Any) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _money(amount: int | None, currency: str) -> Decimal:
    value = Decimal(int(amount or 0))
    if currency.lower() in _ZERO_DECIMAL:
        return value
    return (value / 100).quantize(Decimal("0.01"))


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    # API version basil (2025-03-31) moved it under `parent.subscription_details`.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _sync(stripe_subscription: dict[str, Any], event_created: datetime | None):
    before = subscription_state(
        provider=PROVIDER, external_id=str(stripe_subscription["id"])
    )
    subscription = billing.subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription, event_created=event_created
    )
    notifications.subscription_changed_notify(
        user=subscription.user,
        before=before,
        status=subscription.status,
        plan_name=subscription.plan.name,
    )
    return subscription


# --- prepare: provider calls, outside the transaction ---


def _prepare_event(payload: Payload) -> None:
    stripe_provider.event_sync(payload=payload)


def _prepare_invoice(payload: Payload) -> dict[str, Any] | None:
    """Sync the event, then read the invoice's subscription as Stripe has it now."""
    stripe_provider.event_sync(payload=payload)
    return stripe_provider.subscription_current(
        subscription_id=_invoice_subscription_id(_object(payload))
    )


# --- apply: our state, inside the transaction ---


def _apply_checkout_completed(payload: Payload, prepared: Any) -> None:
    billing.checkout_session_completed_stripe(session=_object(payload))


def _apply_subscription(payload: Payload, prepared: Any) -> None:
    _sync(_object(payload), _ts(payload.get("created")))


def _invoice_subscription(payload: Payload, prepared: dict[str, Any] | None):
    invoice = _object(payload)
    if prepared is None:
        logger.info(
            "Invoice without a known subscription; nothing to update",
            extra={"invoice_id": invoice.get("id")},
        )
        return None
    # `prepared` is the live object, newer than any event: no event-time guard.
    return _sync(prepared, None)


def _apply_invoice_paid(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    invoice = _object(payload)
    currency = str(invoice.get("currency") or "usd")
    amount = _money(invoice.get("amount_paid"), currency)
    paid_at = (
        _ts((invoice.get("status_transitions") or {}).get("paid_at"))
        or _ts(invoice.get("created"))
        or _ts(payload.get("created"))
    )
    billing.payment_record(
        provider=PROVIDER,
        external_id=str(invoice["id"]),
        user=subscription.user,
        plan=subscription.plan,
        amount=amount,
        currency=currency.upper(),
        paid_at=paid_at,
    )
    notifications.payment_succeeded_notify(
        user=subscription.user,
        amount=amount,
        currency=currency,
        plan_name=subscription.plan.name,
        reference=str(invoice["id"]),
    )


def _apply_invoice_failed(payload: Payload, prepared: Any, *, action: bool) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    invoice = _object(payload)
    currency = str(invoice.get("currency") or "usd")
    notifications.payment_failed_notify(
        user=subscription.user,
        amount=_money(invoice.get("amount_due"), currency),
        currency=currency,
        reference=str(invoice["id"]),
        attempt_key=f"stripe:{invoice['id']}:{invoice.get('attempt_count') or 0}",
        action_url=str(invoice.get("hosted_invoice_url") or ""),
        action_required=action,
    )


def _apply_invoice_payment_failed(payload: Payload, prepared: Any) -> None:
    _apply_invoice_failed(payload, prepared, action=False)


def _apply_invoice_action_required(payload: Payload, prepared: Any) -> None:
    _apply_invoice_failed(payload, prepared, action=True)


_subscription = Handler(prepare=_prepare_event, apply=_apply_subscription)

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": Handler(
        prepare=_prepare_event, apply=_apply_checkout_completed
    ),
    "customer.subscription.created": _subscription,
    "customer.subscription.updated": _subscription,
    "customer.subscription.deleted": _subscription,
    "customer.subscription.paused": _subscription,
    "customer.subscription.resumed": _subscription,
    "invoice.paid": Handler(prepare=_prepare_invoice, apply=_apply_invoice_paid),
    "invoice.payment_failed": Handler(
        prepare=_prepare_invoice, apply=_apply_invoice_payment_failed
    ),
    "invoice.payment_action_required": Handler(
        prepare=_prepare_invoice, apply=_apply_invoice_action_required
    ),
}
