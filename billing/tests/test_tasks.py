"""Billing's Celery work: the periodic expiry and reconciliation (run as beat finds
them) and the payment-problem e-mail (once per attempt, retried on SMTP errors)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.db import connection

from billing.models import PaymentEmail, Subscription
from billing.selectors import plan_get_for_user
from billing.services import payment_problem_email_queue, payment_problem_email_send
from billing.tasks import payment_problem_email_task
from billing.tests.factories import stripe_subscription, subscription_row
from flowmatik.testing.beat import beat_run

pytestmark = pytest.mark.django_db


def test_beat_expiry_drops_cancelled_subscriptions_past_their_period_to_free(user):
    subscription_row(
        user=user,
        plan="business",
        cancel_at_period_end=True,
        period_end=datetime.now(tz=UTC) - timedelta(minutes=1),
    )
    assert beat_run("billing.expire_due_subscriptions") == 1
    assert plan_get_for_user(user=user).slug == "free"
    assert Subscription.objects.get(user=user).status == "canceled"
    assert beat_run("billing.expire_due_subscriptions") == 0  # idempotent


def test_beat_reconciliation_fixes_a_subscription_whose_webhook_was_lost(
    fake_stripe, user, settings
):
    settings.LEMONSQUEEZY_API_KEY = ""
    row = subscription_row(user=user, external_id="sub_drift", customer_id="cus_d")
    fake_stripe.put_customer("cus_d", user=user)
    # The provider cancelled it; the webhook was lost: our row still says active.
    fake_stripe.put_subscription(
        stripe_subscription(sub_id="sub_drift", customer="cus_d", status="canceled")
    )
    assert beat_run("billing.reconcile_subscriptions") == {"stripe": 1}
    row.refresh_from_db()
    assert (row.status, row.live_user) == ("canceled", None)
    assert plan_get_for_user(user=user).slug == "free"
    assert beat_run("billing.reconcile_subscriptions") == {"stripe": 0}


def test_reconciliation_reports_a_provider_failure_after_the_other_ran(
    fake_stripe, fake_lemonsqueezy, user
):
    from billing.errors import PaymentProviderError

    fake_stripe.fail_next(500, times=100)
    with pytest.raises(PaymentProviderError):
        beat_run("billing.reconcile_subscriptions")
    assert fake_lemonsqueezy.calls("GET", "/v1/subscriptions")  # it still ran


def test_payment_email_is_queued_once_per_attempt_and_sent_after_commit(
    user, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = payment_problem_email_queue(
            user=user, key="stripe:in_1:1", action_url="https://pay.test/in_1"
        )
        again = payment_problem_email_queue(user=user, key="stripe:in_1:1")
    assert (first, again) == (True, False)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert "https://pay.test/in_1" in mail.outbox[0].body
    assert PaymentEmail.objects.get().emailed_at is not None


def test_payment_email_is_sent_after_the_smtp_server_drops_twice(
    user, flaky_smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        payment_problem_email_queue(user=user, key="stripe:in_2:1")
    email = PaymentEmail.objects.get()
    flaky_smtp.failures = 2

    result = payment_problem_email_task.apply(kwargs={"email_id": email.pk})

    assert result.get() is True
    assert flaky_smtp.attempts == 3
    assert len(mail.outbox) == 1
    # a redelivered task message sends nothing more
    assert (
        payment_problem_email_task.apply(kwargs={"email_id": email.pk}).get() is False
    )
    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_send_a_payment_email_once(user):
    email = PaymentEmail.objects.create(
        key="stripe:in_3:1", user=user, kind="payment_failed"
    )
    barrier = threading.Barrier(4)
    results: list = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(payment_problem_email_send(email_id=email.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, False, False, True]
    assert len(mail.outbox) == 1
