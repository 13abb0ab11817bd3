"""Stripe event handlers: dj-stripe syncs its objects first, then billing's services
update our subscription and payments from the object's current state.

Provider calls and Stripe's shapes go through billing's Stripe adapter only.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from billing import services as billing
from billing.providers import stripe as stripe_provider
from webhooks_app.handlers import Handler, Payload

logger = logging.getLogger("flowmatik.webhooks_app")

PROVIDER = "stripe"


def _object(payload: Payload) -> dict[str, Any]:
    return payload["data"]["object"]


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
        external_id=stripe_provider.invoice_subscription_id(_object(payload))
    )


# --- apply: our state, inside the transaction ---


def _apply_checkout_completed(payload: Payload, prepared: Any) -> None:
    billing.checkout_session_completed_stripe(session=_object(payload))


def _apply_subscription(payload: Payload, prepared: Any) -> None:
    _sync(_object(payload), stripe_provider.timestamp(payload.get("created")))


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
        stripe_provider.timestamp(
            (invoice.get("status_transitions") or {}).get("paid_at")
        )
        or stripe_provider.timestamp(invoice.get("created"))
        or stripe_provider.timestamp(payload.get("created"))
        or datetime.now(tz=UTC)
    )


def _record(payload: Payload, subscription, *, status: str) -> None:
    """Record the invoice's payment: the amount paid, or the amount due when the
    payment failed. Billing notifies the user after commit."""
    invoice = _object(payload)
    parsed = stripe_provider.parse_invoice(invoice)
    billing.payment_record(
        provider=PROVIDER,
        external_id=parsed.external_id,
        user=subscription.user,
        plan=subscription.plan,
        amount=parsed.amount,
        currency=parsed.currency,
        paid_at=_paid_at(invoice, payload),
        status=status,
    )


def _apply_invoice_paid(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is not None:
        _record(payload, subscription, status="paid")


def _attempt_key(invoice: dict[str, Any]) -> str:
    return f"stripe:{invoice['id']}:{invoice.get('attempt_count') or 0}"


def _apply_invoice_payment_failed(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    invoice = _object(payload)
    _record(payload, subscription, status="failed")
    billing.payment_problem_email_queue(
        user=subscription.user,
        key=_attempt_key(invoice),
        action_url=str(invoice.get("hosted_invoice_url") or ""),
    )


def _apply_invoice_action_required(payload: Payload, prepared: Any) -> None:
    subscription = _invoice_subscription(payload, prepared)
    if subscription is None:
        return
    invoice = _object(payload)
    action_url = str(invoice.get("hosted_invoice_url") or "")
    billing.payment_action_required_notify(
        user=subscription.user, reference=str(invoice["id"]), action_url=action_url
    )
    billing.payment_problem_email_queue(
        user=subscription.user,
        key=_attempt_key(invoice) + ":action",
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
