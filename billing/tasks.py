"""Celery entry points of billing (thin, idempotent)."""

from celery import shared_task

from billing.services import subscription_expire_due


@shared_task(name="billing.expire_due_subscriptions")
def subscription_expire_due_task() -> int:
    """Periodic: cancelled subscriptions past period end drop their users to Free.

    Idempotent: an ended subscription is no longer due, so a second run is a no-op.
    """
    return subscription_expire_due()
