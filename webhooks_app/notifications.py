"""What a user hears about payment events: stored notifications (pushed live after
commit) and, for failed payments, one e-mail per invoice attempt after commit."""

import logging
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction

from dashboard.models import NotificationKind
from dashboard.services import notification_send

logger = logging.getLogger("flowmatik.webhooks_app")

EMAIL_DEDUPE_SECONDS = 14 * 86400


def _money(amount: Decimal | None, currency: str) -> str:
    return f"{amount} {currency.upper()}" if amount is not None else ""


def payment_succeeded_notify(
    *, user, amount: Decimal, currency: str, plan_name: str, reference: str
) -> None:
    notification_send(
        user=user,
        kind=NotificationKind.PAYMENT_SUCCEEDED,
        title="Payment received",
        body=f"We received {_money(amount, currency)} for {plan_name}. Thank you!",
        data={"amount": str(amount), "currency": currency.upper(), "ref": reference},
    )


def payment_failed_notify(
    *,
    user,
    amount: Decimal | None,
    currency: str,
    reference: str,
    attempt_key: str,
    action_url: str = "",
    action_required: bool = False,
) -> None:
    """Notify now (stored in this transaction) and e-mail after commit, once per
    `attempt_key` (e.g. invoice id + attempt count) even if events repeat."""
    if action_required:
        title = "Confirm your payment"
        body = "Your bank asks you to confirm the payment for your subscription."
    else:
        title = "Payment failed"
        body = (
            f"We could not collect {_money(amount, currency)}. Please update your "
            "payment method to keep your plan."
        )
    data = {"ref": reference, "action_required": action_required}
    if action_url:
        data["action_url"] = action_url
    notification_send(
        user=user,
        kind=NotificationKind.PAYMENT_FAILED,
        title=title,
        body=body,
        data=data,
    )
    transaction.on_commit(
        lambda: _payment_failed_email_send(
            email=user.email, title=title, body=body, link=action_url, key=attempt_key
        )
    )


def _payment_failed_email_send(
    *, email: str, title: str, body: str, link: str, key: str
) -> None:
    if not cache.add(f"webhooks:email:payment_failed:{key}", 1, EMAIL_DEDUPE_SECONDS):
        return
    text = body + (f"\n\n{link}" if link else "") + f"\n\n{settings.FRONTEND_URL}"
    try:
        send_mail(
            f"Flowmatik: {title}",
            text,
            settings.DEFAULT_FROM_EMAIL,
            [email],
        )
    except Exception:
        # The state change is committed; a lost e-mail must not re-run the event.
        logger.exception("Payment-failed e-mail not sent", extra={"key": key})


def subscription_changed_notify(
    *, user, before: tuple[str, str] | None, status: str, plan_name: str
) -> None:
    """Notify when the subscription's status or plan differs from `before`."""
    after = (status, plan_name)
    if before == after:
        return
    notification_send(
        user=user,
        kind=NotificationKind.SUBSCRIPTION_CHANGED,
        title="Your subscription changed",
        body=f"Plan: {plan_name}. Status: {status.replace('_', ' ')}.",
        data={"plan": plan_name, "status": status},
    )
