"""Payment providers' delivery faults, for Stripe and LemonSqueezy (issue 19).

Every delivery goes through the real webhook endpoint (signed with the provider's
scheme) and each message it enqueues is run by the worker's task code
(`webhooks.process_event`) as a worker would run it, against the fake provider
API. The faults: every event delivered three times (and its task message run
three times, as a broker redelivering it would), events out of order (the
subscription updated before it was created; the invoice paid before the
subscription exists), and the same event delivered, and its message run again,
while the first delivery is still being processed (the provider API call it makes
is slowed down). Each time: one state change per event, one payment row, one
notification, and the final state right.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Payment, Subscription
from billing.selectors import plan_get_for_user
from billing.tests.factories import (
    LS_VARIANTS,
    STRIPE_PRICES,
    ls_subscription,
    stripe_subscription,
)
from notifications.models import Notification, NotificationKind
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.tasks import webhook_event_process_task
from webhooks_app.tests.helpers import (
    ls_event,
    post_lemonsqueezy,
    post_stripe,
    stripe_event,
)

DELIVERIES = 3


@pytest.fixture
def deliver(django_capture_on_commit_callbacks, eager_celery):
    """POST one signed delivery; run each task message it enqueued `runs` times
    (a redelivering broker); returns (event row, messages enqueued)."""

    def run(provider: str, event: dict, *, runs: int = DELIVERIES):
        post = post_stripe if provider == "stripe" else post_lemonsqueezy
        enqueued = []
        with django_capture_on_commit_callbacks() as callbacks:
            response = post(Client(), event)
        assert response.status_code == 200, response.content
        stored = WebhookEvent.objects.get(
            provider=provider, event_id=response.json()["event_id"]
        )
        for _ in callbacks:
            enqueued.append(stored.pk)
            for _ in range(runs):
                with django_capture_on_commit_callbacks(execute=True):
                    webhook_event_process_task.apply(args=[stored.pk], throw=False)
        stored.refresh_from_db()
        return stored, enqueued

    return run


def _kinds(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user)
        .order_by("pk")
        .values_list("kind", flat=True)
    )


# --- Stripe ---

T0 = int(time.time()) - 600
PERIOD_END = datetime.now(tz=UTC).replace(microsecond=0) + timedelta(days=30)


def _stripe_sub(fake_stripe, user, *, status: str, plan: str = "pro") -> dict:
    fake_stripe.put_customer("cus_d", user=user)
    obj = stripe_subscription(
        sub_id="sub_d",
        customer="cus_d",
        user_id=user.pk,
        status=status,
        price=STRIPE_PRICES[plan],
        period_end=PERIOD_END,
    )
    return fake_stripe.put_subscription(obj)


def _stripe_invoice(fake_stripe, *, invoice_id: str = "in_d") -> dict:
    now = int(time.time())
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "livemode": False,
        "number": "FMK-D",
        "currency": "usd",
        "amount_paid": 3900,
        "amount_due": 3900,
        "amount_remaining": 0,
        "subtotal": 3900,
        "total": 3900,
        "attempt_count": 1,
        "attempted": True,
        "auto_advance": False,
        "billing_reason": "subscription_create",
        "collection_method": "charge_automatically",
        "status": "paid",
        "customer": "cus_d",
        "created": now,
        "period_start": now,
        "period_end": now,
        "metadata": {},
        "hosted_invoice_url": "https://invoice.stripe.test/in_d",
        "status_transitions": {"paid_at": now},
        "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/x"},
        "parent": {
            "type": "subscription_details",
            "subscription_details": {"subscription": "sub_d"},
        },
    }
    return fake_stripe.put_invoice(invoice)


def test_stripe_events_delivered_three_times_change_state_once_each(
    deliver, fake_stripe, user
):
    created = _stripe_sub(fake_stripe, user, status="incomplete")
    events = [
        stripe_event(
            "customer.subscription.created", created, event_id="evt_c", created=T0
        ),
        stripe_event(
            "customer.subscription.updated",
            dict(created, status="active"),
            event_id="evt_u",
            created=T0 + 5,
        ),
    ]
    for event in events:
        for delivery in range(DELIVERIES):
            stored, enqueued = deliver("stripe", event)
            assert stored.status == EventStatus.PROCESSED, stored.last_error
            assert stored.attempts == 1
            assert len(enqueued) == (1 if delivery == 0 else 0)  # duplicates: no-op
    _stripe_sub(fake_stripe, user, status="active")  # Stripe's state by now
    invoice = stripe_event(
        "invoice.paid", _stripe_invoice(fake_stripe), event_id="evt_p"
    )
    for _ in range(DELIVERIES):
        stored, _ = deliver("stripe", invoice)
        assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
    assert WebhookEvent.objects.count() == 3
    sub = Subscription.objects.get(external_id="sub_d")
    assert (sub.status, sub.plan.slug) == ("active", "pro")
    assert Payment.objects.filter(external_id="in_d").count() == 1
    # one notice per change (incomplete, then active) and one for the payment
    assert _kinds(user) == [
        NotificationKind.SUBSCRIPTION_CHANGED,
        NotificationKind.SUBSCRIPTION_CHANGED,
        NotificationKind.PAYMENT_SUCCEEDED,
    ]
    assert plan_get_for_user(user=user).slug == "pro"


def test_stripe_invoice_paid_before_the_subscription_then_updated_before_created(
    deliver, fake_stripe, user
):
    live = _stripe_sub(fake_stripe, user, status="active")
    deliver(
        "stripe",
        stripe_event("invoice.paid", _stripe_invoice(fake_stripe), event_id="evt_p"),
    )
    # The invoice's processing read the subscription from Stripe and created it.
    sub = Subscription.objects.get(external_id="sub_d")
    assert (sub.status, sub.user) == ("active", user)
    assert Payment.objects.get(external_id="in_d").user == user
    deliver(
        "stripe",
        stripe_event(
            "customer.subscription.updated", live, event_id="evt_u", created=T0 + 5
        ),
    )
    deliver(
        "stripe",
        stripe_event(
            "customer.subscription.created",
            dict(live, status="incomplete"),
            event_id="evt_c",
            created=T0,
        ),
    )
    assert Subscription.objects.get(external_id="sub_d").status == "active"
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {
        EventStatus.PROCESSED
    }
    assert Payment.objects.count() == 1
    assert _kinds(user) == [
        NotificationKind.SUBSCRIPTION_CHANGED,
        NotificationKind.PAYMENT_SUCCEEDED,
    ]


# --- LemonSqueezy ---

LS_T0 = datetime.now(tz=UTC) - timedelta(hours=1)


def _ls_sub_event(name: str, status: str, user, minutes: int) -> dict:
    data = ls_subscription(
        sub_id="88",
        status=status,
        updated_at=LS_T0 + timedelta(minutes=minutes),
        variant_id=LS_VARIANTS["pro"],
        renews_at=PERIOD_END,
    )
    return ls_event(name, data, custom_data={"user_id": str(user.pk)})


def _ls_invoice_event(user, invoice_id: str = "601") -> dict:
    data = {
        "type": "subscription-invoices",
        "id": invoice_id,
        "attributes": {
            "subscription_id": 88,
            "customer_id": 7,
            "status": "paid",
            "billing_reason": "renewal",
            "total": 3900,
            "currency": "USD",
            "created_at": LS_T0.isoformat(),
            "updated_at": LS_T0.isoformat(),
            "urls": {"invoice_url": f"https://ls.test/invoice/{invoice_id}"},
        },
    }
    return ls_event(
        "subscription_payment_success", data, custom_data={"user_id": str(user.pk)}
    )


def _ls_live(fake_lemonsqueezy, status: str = "active") -> None:
    """The subscription as LemonSqueezy's API serves it now."""
    fake_lemonsqueezy.put_subscription(
        ls_subscription(
            sub_id="88",
            status=status,
            variant_id=LS_VARIANTS["pro"],
            updated_at=LS_T0 + timedelta(minutes=30),
            renews_at=PERIOD_END,
        )
    )


def test_lemonsqueezy_events_delivered_three_times_change_state_once_each(
    deliver, fake_lemonsqueezy, user
):
    for event in (
        _ls_sub_event("subscription_created", "on_trial", user, 0),
        _ls_sub_event("subscription_updated", "active", user, 10),
    ):
        for delivery in range(DELIVERIES):
            stored, enqueued = deliver("lemonsqueezy", event)
            assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
            assert len(enqueued) == (1 if delivery == 0 else 0)
    _ls_live(fake_lemonsqueezy)
    for _ in range(DELIVERIES):
        stored, _ = deliver("lemonsqueezy", _ls_invoice_event(user))
        assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
    assert WebhookEvent.objects.count() == 3
    sub = Subscription.objects.get(provider="lemonsqueezy", external_id="88")
    assert (sub.status, sub.plan.slug) == ("active", "pro")
    assert Payment.objects.filter(external_id="invoice:601").count() == 1
    assert _kinds(user) == [
        NotificationKind.SUBSCRIPTION_CHANGED,  # on trial
        NotificationKind.SUBSCRIPTION_CHANGED,  # active
        NotificationKind.PAYMENT_SUCCEEDED,
    ]


def test_lemonsqueezy_payment_before_the_subscription_then_updated_before_created(
    deliver, fake_lemonsqueezy, user
):
    _ls_live(fake_lemonsqueezy)
    deliver("lemonsqueezy", _ls_invoice_event(user))
    sub = Subscription.objects.get(provider="lemonsqueezy", external_id="88")
    assert (sub.status, sub.user) == ("active", user)
    assert Payment.objects.get(external_id="invoice:601").user == user
    deliver("lemonsqueezy", _ls_sub_event("subscription_updated", "past_due", user, 10))
    deliver("lemonsqueezy", _ls_sub_event("subscription_created", "on_trial", user, 0))
    # Both are older than what the payment's read of the API stored.
    assert Subscription.objects.get(external_id="88").status == "active"
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {
        EventStatus.PROCESSED
    }
    assert Payment.objects.count() == 1
    assert _kinds(user) == [
        NotificationKind.SUBSCRIPTION_CHANGED,
        NotificationKind.PAYMENT_SUCCEEDED,
    ]


# --- the same event again while its first delivery is still processing


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", ["stripe", "lemonsqueezy"])
def test_same_event_while_the_first_delivery_is_processing_is_applied_once(
    request, provider, user
):
    from django.db import connections

    if provider == "stripe":
        fake = request.getfixturevalue("fake_stripe")
        _stripe_sub(fake, user, status="active")
        event = stripe_event("invoice.paid", _stripe_invoice(fake), event_id="evt_slow")
        post, external_id = post_stripe, "in_d"
    else:
        fake = request.getfixturevalue("fake_lemonsqueezy")
        _ls_live(fake)
        event = _ls_invoice_event(user)
        post, external_id = post_lemonsqueezy, "invoice:601"

    from unittest import mock

    with mock.patch("webhooks_app.services._enqueue") as enqueue:
        assert post(Client(), event).status_code == 200
    assert enqueue.call_count == 1
    pk = WebhookEvent.objects.get().pk
    fake.delay_next(1.0)  # the first processing's provider call is slow
    results: list = []

    def first_run() -> None:
        try:
            results.append(webhook_event_process_task.apply(args=[pk]).get())
        finally:
            connections.close_all()

    worker = threading.Thread(target=first_run)
    worker.start()
    deadline = time.monotonic() + 5
    while WebhookEvent.objects.get(pk=pk).status != EventStatus.PROCESSING:
        assert time.monotonic() < deadline, "the first run never claimed the event"
        time.sleep(0.02)
    # Meanwhile: the provider delivers it again, and the broker redelivers it.
    with mock.patch("webhooks_app.services._enqueue") as enqueue:
        response = post(Client(), event)
    assert (response.status_code, enqueue.call_count) == (200, 0)
    assert webhook_event_process_task.apply(args=[pk]).get() is None  # skipped
    worker.join(timeout=10)
    assert results == ["processed"]
    stored = WebhookEvent.objects.get(pk=pk)
    assert (stored.status, stored.attempts) == (EventStatus.PROCESSED, 1)
    assert Payment.objects.filter(external_id=external_id).count() == 1
    assert _kinds(user).count(NotificationKind.PAYMENT_SUCCEEDED) == 1


def test_the_message_whose_worker_died_re_claims_its_event_at_once(
    deliver, fake_lemonsqueezy, user
):
    """A SIGKILLed run leaves the event `processing` under its message (the lease
    is the task time limit + 60 s); that message, redelivered, applies it."""
    _ls_live(fake_lemonsqueezy)
    stored, _ = deliver("lemonsqueezy", _ls_invoice_event(user), runs=0)
    WebhookEvent.objects.filter(pk=stored.pk).update(
        status=EventStatus.PROCESSING,
        attempts=1,
        claimed_by="msg-dead",
        claimed_at=timezone.now(),
    )
    other = webhook_event_process_task.apply(args=[stored.pk], task_id="msg-other")
    assert other.get() is None  # another message keeps off a live claim
    assert not Payment.objects.exists()
    again = webhook_event_process_task.apply(args=[stored.pk], task_id="msg-dead")
    assert again.get() == EventStatus.PROCESSED
    stored.refresh_from_db()
    assert (stored.attempts, stored.claimed_by) == (2, "msg-dead")
    assert Payment.objects.filter(external_id="invoice:601").count() == 1
