"""Processing Stripe events end to end: signed delivery -> task -> dj-stripe sync
(against a fake Stripe API) -> billing's subscription and payments."""

import os
import time

import pytest
from django.core import mail

from billing.models import Payment, Subscription, SubscriptionStatus
from billing.selectors import plan_get_for_user
from billing.tests.factories import STRIPE_PRICES, stripe_subscription
from notifications.models import Notification, NotificationKind
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.tasks import webhook_event_process_task
from webhooks_app.tests.helpers import post_stripe, stripe_event

# Real concurrent writers need MariaDB (CI); skipped before any database setup.
needs_mysql = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("mysql"),
    reason="concurrent writers are exercised on MariaDB (CI)",
)

pytestmark = pytest.mark.django_db


def deliver(client, capture, event) -> WebhookEvent:
    """POST a signed event, then run the task it enqueued (eagerly, with retries)."""
    with capture() as callbacks:
        response = post_stripe(client, event)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get(provider="stripe", event_id=event["id"])
    if callbacks:
        with capture(execute=True):
            webhook_event_process_task.apply(args=[stored.pk], throw=False)
    stored.refresh_from_db()
    return stored


@pytest.fixture
def run(client, django_capture_on_commit_callbacks, eager_celery):
    return lambda event: deliver(client, django_capture_on_commit_callbacks, event)


def _sub(fake_stripe, user, **kwargs):
    fake_stripe.put_customer("cus_w", user=user)
    obj = stripe_subscription(
        sub_id=kwargs.pop("sub_id", "sub_w"),
        customer="cus_w",
        user_id=user.pk,
        **kwargs,
    )
    return fake_stripe.put_subscription(obj)


@pytest.mark.parametrize(
    ("event_type", "stripe_status", "expected"),
    [
        ("customer.subscription.created", "active", SubscriptionStatus.ACTIVE),
        ("customer.subscription.updated", "past_due", SubscriptionStatus.PAST_DUE),
        ("customer.subscription.deleted", "canceled", SubscriptionStatus.CANCELED),
        ("customer.subscription.paused", "paused", SubscriptionStatus.PAUSED),
        ("customer.subscription.resumed", "active", SubscriptionStatus.ACTIVE),
    ],
)
def test_subscription_events_move_the_subscription(
    run, fake_stripe, user, event_type, stripe_status, expected
):
    obj = _sub(fake_stripe, user, status=stripe_status, price=STRIPE_PRICES["pro"])
    stored = run(stripe_event(event_type, obj, event_id=f"evt_{stripe_status}"))
    assert stored.status == EventStatus.PROCESSED
    assert stored.attempts == 1
    assert stored.processing_ms is not None
    sub = Subscription.objects.get(external_id="sub_w")
    assert sub.status == expected
    assert sub.plan.slug == "pro"
    # dj-stripe synced its own objects from the (fake) API, once per event
    from djstripe.models import Event as DjEvent
    from djstripe.models import Subscription as DjSubscription

    assert DjEvent.objects.filter(id=f"evt_{stripe_status}").exists()
    assert DjSubscription.objects.get(id="sub_w").status == stripe_status
    live = expected in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
    assert (plan_get_for_user(user=user).slug == "pro") is live


def test_updated_delivered_before_created_ends_in_the_latest_state(
    run, fake_stripe, user
):
    created_obj = _sub(fake_stripe, user, status="incomplete")
    updated_obj = dict(created_obj, status="active")
    t0 = int(time.time()) - 60
    run(
        stripe_event(
            "customer.subscription.updated",
            updated_obj,
            event_id="evt_u",
            created=t0 + 5,
        )
    )
    run(
        stripe_event(
            "customer.subscription.created", created_obj, event_id="evt_c", created=t0
        )
    )
    assert Subscription.objects.get(external_id="sub_w").status == "active"
    assert WebhookEvent.objects.filter(status=EventStatus.PROCESSED).count() == 2


def test_same_event_delivered_twice_changes_state_once(run, fake_stripe, user):
    obj = _sub(fake_stripe, user, status="active")
    event = stripe_event("customer.subscription.created", obj, event_id="evt_dup")
    first = run(event)
    notifications = Notification.objects.filter(user=user).count()
    second = run(event)  # duplicate delivery: 200, nothing enqueued, nothing changes
    assert first.pk == second.pk
    assert second.attempts == 1
    assert Notification.objects.filter(user=user).count() == notifications == 1
    # and running the task again for a processed event has no effect either
    webhook_event_process_task.apply(args=[first.pk])
    first.refresh_from_db()
    assert first.attempts == 1


def test_checkout_session_completed_links_the_user(run, fake_stripe, user):
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": str(user.pk),
        "customer": "cus_w",
        "subscription": "sub_new",
        "metadata": {"user_id": str(user.pk), "plan": "starter"},
        "livemode": False,
    }
    fake_stripe.put_customer("cus_w", user=user)
    fake_stripe.put_checkout_session(session)
    fake_stripe.put_subscription(
        stripe_subscription(sub_id="sub_new", customer="cus_w", status="incomplete")
    )
    stored = run(stripe_event("checkout.session.completed", session, event_id="evt_cs"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    sub = Subscription.objects.get(external_id="sub_new")
    assert (sub.user, sub.status) == (user, SubscriptionStatus.INCOMPLETE)
    assert plan_get_for_user(user=user).slug == "free"  # no access from checkout


def _invoice(status="paid", **extra):
    now = int(time.time())
    invoice = {
        "id": "in_1",
        "object": "invoice",
        "livemode": False,
        "number": "FMK-1",
        "currency": "usd",
        "amount_paid": 1900 if status == "paid" else 0,
        "amount_due": 1900,
        "amount_remaining": 0 if status == "paid" else 1900,
        "subtotal": 1900,
        "total": 1900,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": False,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "status": status,
        "customer": "cus_w",
        "created": now,
        "period_start": now,
        "period_end": now,
        "metadata": {},
        "hosted_invoice_url": "https://invoice.stripe.test/in_1",
        "status_transitions": {"paid_at": now if status == "paid" else None},
        "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/x"},
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_w"},
        },
    }
    invoice.update(extra)
    return invoice


def _invoice_event(fake_stripe, event_type, status, event_id):
    """An invoice event; the fake API serves the same invoice to dj-stripe."""
    invoice = _invoice(status)
    fake_stripe.put_invoice(invoice)
    return stripe_event(event_type, invoice, event_id=event_id)


def test_invoice_paid_activates_and_records_the_payment(run, fake_stripe, user):
    _sub(fake_stripe, user, status="active", price=STRIPE_PRICES["starter"])
    stored = run(_invoice_event(fake_stripe, "invoice.paid", "paid", "evt_paid"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert Subscription.objects.get(external_id="sub_w").status == "active"
    from djstripe.models import Invoice as DjInvoice

    assert DjInvoice.objects.get(id="in_1").status == "paid"  # synced by dj-stripe
    payment = Payment.objects.get(external_id="in_1")
    assert (payment.amount, payment.currency, payment.status) == (
        19,
        "USD",
        "paid",
    )
    assert payment.user == user
    assert Notification.objects.filter(
        user=user, kind=NotificationKind.PAYMENT_SUCCEEDED
    ).exists()


def test_invoice_payment_failed_marks_past_due_and_emails_once(run, fake_stripe, user):
    _sub(fake_stripe, user, status="past_due")
    stored = run(
        _invoice_event(fake_stripe, "invoice.payment_failed", "open", "evt_f1")
    )
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert Subscription.objects.get(external_id="sub_w").status == "past_due"
    assert Payment.objects.get(external_id="in_1").status == "failed"
    assert Notification.objects.filter(
        user=user, kind=NotificationKind.PAYMENT_FAILED
    ).exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    # a second event for the same invoice attempt sends no second e-mail
    run(_invoice_event(fake_stripe, "invoice.payment_failed", "open", "evt_f2"))
    assert len(mail.outbox) == 1


def test_invoice_payment_action_required_asks_the_user_to_confirm(
    run, fake_stripe, user
):
    _sub(fake_stripe, user, status="incomplete")
    stored = run(
        _invoice_event(fake_stripe, "invoice.payment_action_required", "open", "evt_a")
    )
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert Subscription.objects.get(external_id="sub_w").status == "incomplete"
    notice = Notification.objects.get(user=user, title="Confirm your payment")
    assert notice.data["action_url"] == "https://invoice.stripe.test/in_1"
    assert len(mail.outbox) == 1


def test_invoice_of_a_subscription_unknown_to_stripe_records_nothing(
    run, fake_stripe, user
):
    fake_stripe.put_customer("cus_w", user=user)
    stored = run(_invoice_event(fake_stripe, "invoice.paid", "paid", "evt_orphan"))
    assert stored.status == EventStatus.PROCESSED, stored.last_error
    assert fake_stripe.calls("GET", "/v1/subscriptions/sub_w")  # asked: 404
    assert not Payment.objects.exists()
    assert not Subscription.objects.exists()


def test_unknown_event_type_is_ignored(run, fake_stripe):
    stored = run(
        stripe_event("customer.created", {"id": "cus_1"}, event_id="evt_unknown")
    )
    assert stored.status == EventStatus.IGNORED
    assert fake_stripe.calls() == []


@needs_mysql
@pytest.mark.django_db(transaction=True)
def test_concurrent_task_runs_apply_an_event_once(fake_stripe, user):
    import threading

    from django.db import connections

    from webhooks_app.services import webhook_event_process
    from webhooks_app.tests.helpers import STRIPE_SECRET, STRIPE_URL, stripe_signature

    _sub(fake_stripe, user, status="active")
    import json
    from unittest import mock

    from django.test import Client

    body = json.dumps(_invoice_event(fake_stripe, "invoice.paid", "paid", "evt_cc"))
    with mock.patch("webhooks_app.services._enqueue"):
        Client().post(
            STRIPE_URL,
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=stripe_signature(
                body, STRIPE_SECRET, int(time.time())
            ),
        )
    pk = WebhookEvent.objects.get(event_id="evt_cc").pk
    barrier = threading.Barrier(4)
    results: list = []

    def work():
        try:
            barrier.wait()
            results.append(webhook_event_process(event_pk=pk, final_attempt=False))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [None, None, None, "processed"]
    event = WebhookEvent.objects.get(pk=pk)
    assert (event.status, event.attempts) == (EventStatus.PROCESSED, 1)
    assert Payment.objects.filter(external_id="in_1").count() == 1
    assert (
        Notification.objects.filter(
            user=user, kind=NotificationKind.PAYMENT_SUCCEEDED
        ).count()
        == 1
    )
