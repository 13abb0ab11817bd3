"""Payment problems the user must act on: the e-mail (once per provider attempt,
sent by a Celery task that retries) and the "confirm your payment" notice."""

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy

from billing.models import PaymentEmail, PaymentEmailKind

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("flowmatik.billing")

# Lazy: read in the recipient's language (`translation.override(user.language)`)
_SUBJECTS = {
    PaymentEmailKind.PAYMENT_FAILED: gettext_lazy("Flowmatik: your payment failed"),
    PaymentEmailKind.ACTION_REQUIRED: gettext_lazy(
        "Flowmatik: please confirm your payment"
    ),
}
_TEXTS = {
    PaymentEmailKind.PAYMENT_FAILED: gettext_lazy(
        "We could not collect your subscription payment. Please update your "
        "payment method to keep your plan."
    ),
    PaymentEmailKind.ACTION_REQUIRED: gettext_lazy(
        "Your bank asks you to confirm the payment for your subscription."
    ),
}


def payment_problem_email_queue(
    *,
    user: "User | None",
    key: str,
    action_url: str = "",
    action_required: bool = False,
) -> bool:
    """Queue the payment-problem e-mail for `user`, once per `key` (provider,
    invoice and attempt); the task is enqueued after the caller's commit.

    Returns False when the key was already queued (a redelivered event) or the
    user has no e-mail address.
    """
    if user is None or not user.email:
        return False
    kind = (
        PaymentEmailKind.ACTION_REQUIRED
        if action_required
        else PaymentEmailKind.PAYMENT_FAILED
    )
    try:
        with transaction.atomic():
            email = PaymentEmail.objects.create(
                key=key[:255], user=user, kind=kind, action_url=action_url[:1000]
            )
    except IntegrityError:
        return False
    from billing.tasks import payment_problem_email_task

    payment_problem_email_task.delay_on_commit(email_id=email.pk)
    return True


def payment_problem_email_send(*, email_id: int) -> bool:
    """Send one queued payment e-mail; False if it was sent already.

    A conditional update claims it first, so two workers (or a redelivered task)
    send it once; a failed send releases the claim and re-raises for the retry.
    """
    claimed = PaymentEmail.objects.filter(pk=email_id, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    if not claimed:
        return False
    email = PaymentEmail.objects.select_related("user").get(pk=email_id)
    kind = PaymentEmailKind(email.kind)
    with translation.override(email.user.language):  # the account's language
        subject, text = str(_SUBJECTS[kind]), str(_TEXTS[kind])
    try:
        send_mail(
            subject=subject,
            message=f"{text}\n\n{email.action_url or settings.FRONTEND_URL}",
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email.user.email],
        )
    except Exception:
        PaymentEmail.objects.filter(pk=email_id).update(emailed_at=None)
        logger.warning(
            "Payment e-mail not sent; will retry",
            extra={"userId": email.user_id, "kind": email.kind},
        )
        raise
    return True


def payment_action_required_notify(
    *, user: "User", reference: str, action_url: str
) -> None:
    """Tell the user (stored now, pushed after commit) to confirm a payment (SCA)."""
    from notifications.models import NotificationKind
    from notifications.services import notification_send

    with translation.override(user.language):  # stored as the user reads it
        title = gettext("Confirm your payment")
        body = str(_TEXTS[PaymentEmailKind.ACTION_REQUIRED])
    notification_send(
        user=user,
        kind=NotificationKind.PAYMENT_FAILED,
        title=title,
        body=body,
        data={"ref": reference, "action_required": True, "action_url": action_url},
    )
