"""Celery entry points of billing (thin, idempotent)."""

from celery import shared_task

from billing import services


@shared_task(name="billing.expire_due_subscriptions")
def subscription_expire_due_task() -> int:
    """Periodic: cancelled subscriptions past period end drop their users to Free.

    Idempotent: an ended subscription is no longer due, so a second run is a no-op.
    """
    return services.subscription_expire_due()


@shared_task(name="billing.reconcile_subscriptions")
def subscriptions_reconcile_task() -> dict[str, int]:
    """Periodic: re-read live subscriptions from every configured provider.

    Idempotent: syncing provider state that is already stored changes nothing.
    """
    return services.subscriptions_reconcile_all()


@shared_task(
    name="billing.payment_problem_email",
    ignore_result=True,
    # SMTP and connection errors are OSErrors: retried with backoff and jitter.
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def payment_problem_email_task(*, email_id: int) -> bool:
    """E-mail a payment problem (once per provider attempt, across processes)."""
    return services.payment_problem_email_send(email_id=email_id)
