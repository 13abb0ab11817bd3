"""Stripe event handlers: dj-stripe syncs its objects first, then billing's services
update our subscription and payments from the object's current state."""

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing import services as billing
from webhooks_app import notifications
from webhooks_app.handlers import Handler, Payload
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
    """Billing upserts it, ignores data older than what it stored, and notifies
    the user (after commit) when the plan or status changed."""
    return billing.subscription_sync_from_stripe(
        stripe_subscription=stripe_subscription, event_created=event_created
    )


# --- prepare: provider calls, outside the transaction ---


def _prepare_event(payload: Payload) -> None:
    stripe_provider.event_sync(payload=payload)


def _prepare_invoice(payload: Payload) -> dict[str, Any] | None:
    """Sync the event (dj-stripe re-reads the invoice), then read the invoice's
    subscription as Stripe has it now (dj-stripe stores that too)."""
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


def _paid_at(invoice: dict[str, Any], payload: Payload) -> datetime:
    return (
        _ts((invoice.get("status_transitions") or {}).get("paid_at"))
        or _ts(invoice.get("created"))
        or _ts(payload.get("created"))
        or datetime.now(tz=UTC)
    )


def _record(payload: Payload, subscription, *, status: str, amount_field: str):
    invoice = _object(payload)
    currency = str(invoice.get("currency") or "usd")
    # billing notifies the user after commit (payment received / failed).
    billing.payment_record(
        provider=PROVIDER,
        external_id=str(invoice["id"]),
        user=subscription.user,
        plan=subscription.plan,
        amount=_money(invoice.get(amount_field), currency),
        currency=currency.upper(),
        paid_at=_paid_at(invoice, payload),
        status=status,
    )


def _apply_invoice_paid(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is not None:
        _record(payload, subscription, status="paid", amount_field="amount_paid")


def _attempt_key(invoice: dict[str, Any]) -> str:
    return f"stripe:{invoice['id']}:{invoice.get('attempt_count') or 0}"


def _apply_invoice_payment_failed(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    invoice = _object(payload)
    _record(payload, subscription, status="failed", amount_field="amount_due")
    notifications.payment_failed_email_after_commit(
        user=subscription.user,
        attempt_key=_attempt_key(invoice),
        action_url=str(invoice.get("hosted_invoice_url") or ""),
    )


def _apply_invoice_action_required(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    invoice = _object(payload)
    action_url = str(invoice.get("hosted_invoice_url") or "")
    notifications.payment_action_required_notify(
        user=subscription.user, reference=str(invoice["id"]), action_url=action_url
    )
    notifications.payment_failed_email_after_commit(
        user=subscription.user,
        attempt_key=_attempt_key(invoice) + ":action",
        action_url=action_url,
        action_required=True,
    )


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
