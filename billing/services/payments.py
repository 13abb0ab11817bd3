"""Payment records: every charge from either provider, once (revenue and MRR)."""

import logging
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from billing.models import Payment, PaymentStatus, Plan
from billing.services.notify import after_commit_notify

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("flowmatik.billing")


def _notify(payment: Payment) -> None:
    if payment.user_id is None:
        return
    from notifications.models import NotificationKind

    paid = payment.status == PaymentStatus.PAID
    if payment.status not in (PaymentStatus.PAID, PaymentStatus.FAILED):
        return
    after_commit_notify(
        user_id=payment.user_id,
        kind=NotificationKind.PAYMENT_SUCCEEDED
        if paid
        else NotificationKind.PAYMENT_FAILED,
        title=(
            f"Payment of {payment.amount} {payment.currency} received"
            if paid
            else f"Payment of {payment.amount} {payment.currency} failed"
        ),
        body="" if paid else "Please update your payment method to keep your plan.",
        data={
            "provider": payment.provider,
            "payment_id": payment.external_id,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "status": payment.status,
        },
    )


def payment_record(
    *,
    provider: str,
    external_id: str,
    user: "User",
    plan: Plan | None,
    amount: Decimal,
    currency: str,
    paid_at: datetime,
    status: str = PaymentStatus.PAID,
) -> Payment:
    """Store one provider charge; the same (provider, external_id) twice is one row.

    A repeat only moves the status forward (failed -> paid, paid -> refunded).
    """
    currency = currency.upper()
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(provider=provider, external_id=external_id)
            .first()
        )
        if payment is None:
            try:
                with transaction.atomic():
                    payment = Payment.objects.create(
                        provider=provider,
                        external_id=external_id,
                        user=user,
                        plan=plan,
                        amount=Decimal(amount),
                        currency=currency,
                        paid_at=paid_at,
                        status=status,
                    )
            except IntegrityError:  # a concurrent delivery stored it first
                return Payment.objects.get(provider=provider, external_id=external_id)
            _notify(payment)
            logger.info(
                "Payment recorded",
                extra={
                    "provider": provider,
                    "payment": external_id,
                    "status": status,
                    "userId": getattr(user, "pk", None),
                },
            )
            return payment
        forward: dict[str, set[str]] = {
            PaymentStatus.FAILED: {PaymentStatus.PAID, PaymentStatus.REFUNDED},
            PaymentStatus.PAID: {PaymentStatus.REFUNDED},
        }
        if status in forward.get(payment.status, set()):
            payment.status = status
            if status == PaymentStatus.PAID:
                payment.paid_at = paid_at
                payment.amount = Decimal(amount)
            payment.save(update_fields=["status", "paid_at", "amount"])
            _notify(payment)
        return payment
