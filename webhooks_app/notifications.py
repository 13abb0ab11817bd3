"""What the webhooks add to billing's own side effects: the failed-payment e-mail
(one per invoice attempt, after commit) and the "confirm your payment" notice.

Billing's services already notify plan changes and recorded payments (succeeded or
failed) after commit and invalidate the plan cache that the premium role reads.
"""

import logging

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction

from notifications.models import NotificationKind
from notifications.services import notification_send

logger = logging.getLogger("flowmatik.webhooks_app")

EMAIL_DEDUPE_SECONDS = 14 * 86400


def payment_failed_email_after_commit(
    *, user, attempt_key: str, action_url: str = "", action_required: bool = False
) -> None:
    """E-mail `user` once per `attempt_key` (invoice + attempt) after commit."""
    if user is None or not user.email:
        return
    if action_required:
        subject = "Flowmatik: please confirm your payment"
        text = "Your bank asks you to confirm the payment for your subscription."
    else:
        subject = "Flowmatik: your payment failed"
        text = (
            "We could not collect your subscription payment. Please update your "
            "payment method to keep your plan."
        )
    text += f"\n\n{action_url or settings.FRONTEND_URL}"
    email = user.email

    def send() -> None:
        key = f"webhooks:email:payment_failed:{attempt_key}"
        if not cache.add(key, 1, EMAIL_DEDUPE_SECONDS):
            return
        try:
            send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, [email])
        except Exception:
            # The state change is committed; a lost e-mail must not re-run the event.
            cache.delete(key)
            logger.exception(
                "Payment-failed e-mail not sent", extra={"key": attempt_key}
            )

    transaction.on_commit(send)


def payment_action_required_notify(*, user, reference: str, action_url: str) -> None:
    """Tell the user (stored now, pushed after commit) to confirm a payment (SCA)."""
    notification_send(
        user=user,
        kind=NotificationKind.PAYMENT_FAILED,
        title="Confirm your payment",
        body="Your bank asks you to confirm the payment for your subscription.",
        data={"ref": reference, "action_required": True, "action_url": action_url},
    )
