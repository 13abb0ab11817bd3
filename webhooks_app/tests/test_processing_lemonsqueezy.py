"""Processing LemonSqueezy events end to end (subscription payment events re-read
the subscription from a fake LemonSqueezy API)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from billing.models import Payment, Subscription
from billing.selectors import plan_get_for_user
from billing.tests.factories import LS_VARIANTS, ls_subscription
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.tasks import webhook_event_process_task
from webhooks_app.tests.helpers import ls_event, post_lemonsqueezy

pytestmark = pytest.mark.django_db

T0 = datetime.now(tz=UTC) - timedelta(hours=1)


@pytest.fixture
def run(client, django_capture_on_commit_callbacks, fake_lemonsqueezy, eager_celery):
    def deliver(event) -> WebhookEvent:
        with django_capture_on_commit_callbacks() as callbacks:
            response = post_lemonsqueezy(client, event)
        assert response.status_code == 200
        stored = WebhookEvent.objects.get(event_id=response.json()["event_id"])
        if callbacks:
            with django_capture_on_commit_callbacks(execute=True):
                webhook_event_process_task.apply(args=[stored.pk], throw=False)
        stored.refresh_from_db()
        return stored

    return deliver


def _sub_event(name, status, user, minutes, **kwargs):
    data = ls_subscription(
        sub_id="77",
        status=status,
        updated_at=T0 + timedelta(minutes=minutes),
        variant_id=kwargs.pop("variant_id", LS_VARIANTS["pro"]),
        **kwargs,
    )
    return ls_event(name, data, custom_data={"user_id": str(user.pk)})


@pytest.mark.parametrize(
    ("event_name", "ls_status", "expected", "cancelling"),
    [
        ("subscription_created", "active", "active", False),
        ("subscription_updated", "past_due", "past_due", False),
        ("subscription_cancelled", "cancelled", "active", True),
        ("subscription_resumed", "active", "active", False),
        ("subscription_expired", "expired", "expired", False),
        ("subscription_paused", "paused", "paused", False),
        ("subscription_unpaused", "active", "active", False),
    ],
)
def test_subscription_events_move_the_subscription(
    run, user, event_name, ls_status, expected, cancelling
):
    run(_sub_event("subscription_created", "on_trial", user, 0))
    stored = run(_sub_event(event_name, ls_status, user, 5))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    sub = Subscription.objects.get(provider="lemonsqueezy", external_id="77")
    assert (sub.status, sub.cancel_at_period_end) == (expected, cancelling)
    assert sub.plan.slug == "pro"
    granting = expected in ("active", "past_due")
    assert (plan_get_for_user(user=user).slug == "pro") is granting


def test_updated_before_created_ends_in_the_latest_state(run, user):
    run(_sub_event("subscription_updated", "active", user, 10))
    run(_sub_event("subscription_created", "on_trial", user, 0))
    sub = Subscription.objects.get(provider="lemonsqueezy", external_id="77")
    assert sub.status == "active"


def _invoice_event(name, *, status, billing_reason="renewal", invoice_id="501"):
    data = {
        "type": "subscription-invoices",
        "id": invoice_id,
        "attributes": {
            "subscription_id": 77,
            "customer_id": 7,
            "status": status,
            "billing_reason": billing_reason,
            "total": 3900,
            "currency": "USD",
            "created_at": T0.isoformat(),
            "updated_at": T0.isoformat(),
            "urls": {"invoice_url": "https://ls.test/invoice/501"},
        },
    }
    return ls_event(name, data)


def test_payment_success_records_a_renewal(run, user, fake_lemonsqueezy):
    run(_sub_event("subscription_created", "past_due", user, 0))
    fake_lemonsqueezy.put_subscription(
        ls_subscription(sub_id="77", status="active", variant_id=LS_VARIANTS["pro"])
    )
    stored = run(_invoice_event("subscription_payment_success", status="paid"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert Subscription.objects.get(external_id="77").status == "active"
    payment = Payment.objects.get(provider="lemonsqueezy")
    assert (payment.external_id, payment.amount, payment.user) == (
        "invoice:501",
        39,
        user,
    )


def test_initial_payment_is_recorded_once_through_the_order(
    run, user, fake_lemonsqueezy
):
    fake_lemonsqueezy.put_subscription(
        ls_subscription(sub_id="77", status="active", variant_id=LS_VARIANTS["pro"])
    )
    order = ls_event(
        "order_created",
        {
            "type": "orders",
            "id": "900",
            "attributes": {
                "status": "paid",
                "total": 3900,
                "currency": "USD",
                "created_at": T0.isoformat(),
                "first_order_item": {"variant_id": int(LS_VARIANTS["pro"])},
            },
        },
        custom_data={"user_id": str(user.pk)},
    )
    assert run(order).status == EventStatus.PROCESSED
    run(_sub_event("subscription_created", "active", user, 0))
    run(
        _invoice_event(
            "subscription_payment_success", status="paid", billing_reason="initial"
        )
    )
    payment = Payment.objects.get(provider="lemonsqueezy")
    assert (payment.external_id, payment.plan.slug, payment.user) == (
        "order:900",
        "pro",
        user,
    )


def test_payment_failed_marks_past_due_and_emails(run, user, fake_lemonsqueezy):
    run(_sub_event("subscription_created", "active", user, 0))
    fake_lemonsqueezy.put_subscription(
        ls_subscription(sub_id="77", status="past_due", variant_id=LS_VARIANTS["pro"])
    )
    stored = run(_invoice_event("subscription_payment_failed", status="failed"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert Subscription.objects.get(external_id="77").status == "past_due"
    assert Payment.objects.get(external_id="invoice:501").status == "failed"
    assert len(mail.outbox) == 1
    assert "https://ls.test/invoice/501" in mail.outbox[0].body


def test_payment_recovered_reactivates(run, user, fake_lemonsqueezy):
    run(_sub_event("subscription_created", "past_due", user, 0))
    fake_lemonsqueezy.put_subscription(
        ls_subscription(sub_id="77", status="active", variant_id=LS_VARIANTS["pro"])
    )
    stored = run(_invoice_event("subscription_payment_recovered", status="paid"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert Subscription.objects.get(external_id="77").status == "active"


def test_payment_for_a_subscription_unknown_to_lemonsqueezy_changes_nothing(
    run, user, fake_lemonsqueezy
):
    stored = run(_invoice_event("subscription_payment_success", status="paid"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert fake_lemonsqueezy.calls("GET", "/v1/subscriptions/77")
    assert not Payment.objects.exists()
    assert not Subscription.objects.exists()


def test_lemonsqueezy_down_while_reading_the_subscription_is_retried(
    run, user, fake_lemonsqueezy, settings
):
    settings.WEBHOOK_MAX_RETRIES = 1
    fake_lemonsqueezy.put_subscription(
        ls_subscription(sub_id="77", status="active", variant_id=LS_VARIANTS["pro"])
    )
    run(_sub_event("subscription_created", "active", user, 0))
    # 3 answers per attempt (LEMONSQUEEZY_MAX_RETRIES=2): the first attempt fails.
    fake_lemonsqueezy.fail_next(503, times=3)
    stored = run(_invoice_event("subscription_payment_success", status="paid"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert stored.attempts == 2
    assert Payment.objects.get(external_id="invoice:501").status == "paid"
