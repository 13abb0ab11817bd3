"""Replayed deliveries: a captured, validly signed delivery sent again later.

Stripe signs `t.body`, so a replay after the tolerance is refused on its timestamp
(`stale_signature`; Stripe's own retries are signed afresh); within the tolerance
the event id's dedupe stores and processes it once. LemonSqueezy signs the body
only (no timestamp): an identical body is the same delivery (its SHA-256 is the
stored event id), and billing ignores a subscription payload older than the state
it has (test_processing_lemonsqueezy's out-of-order tests).
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from webhooks_app.models import WebhookEvent
from webhooks_app.selectors import webhook_rejections
from webhooks_app.tests.helpers import (
    STRIPE_SECRET,
    STRIPE_URL,
    ls_event,
    post_lemonsqueezy,
    stripe_event,
    stripe_signature,
)

pytestmark = pytest.mark.usefixtures("webhook_secrets")

CAPTURED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _captured_stripe_delivery() -> tuple[str, str]:
    """A genuine delivery as an eavesdropper would keep it: body and header."""
    event = stripe_event(
        "customer.created",
        {"id": "cus_replay"},
        event_id="evt_replay",
        created=int(CAPTURED_AT.timestamp()),
    )
    body = json.dumps(event)
    return body, stripe_signature(body, STRIPE_SECRET, int(CAPTURED_AT.timestamp()))


def _send(client, body: str, header: str):
    return client.post(
        STRIPE_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def test_a_stripe_delivery_replayed_after_the_tolerance_is_refused_as_stale(
    db, client, settings, django_capture_on_commit_callbacks
):
    body, header = _captured_stripe_delivery()
    with (
        time_machine.travel(CAPTURED_AT + timedelta(seconds=2), tick=False),
        django_capture_on_commit_callbacks() as first_callbacks,
    ):
        assert _send(client, body, header).status_code == 200
    late = CAPTURED_AT + timedelta(
        seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS + 1
    )
    with (
        time_machine.travel(late, tick=False),
        django_capture_on_commit_callbacks() as replay_callbacks,
    ):
        replayed = _send(client, body, header)

    assert replayed.status_code == 400
    assert replayed.json()["error"]["code"] == "stale_signature"
    assert WebhookEvent.objects.count() == 1
    assert (len(first_callbacks), len(replay_callbacks)) == (1, 0)
    assert webhook_rejections()["stripe"]["stale_signature"] == 1
    assert webhook_rejections()["stripe"]["bad_signature"] == 0


def test_a_stripe_delivery_signed_in_the_future_is_refused_as_stale(
    db, client, settings
):
    body, header = _captured_stripe_delivery()
    early = CAPTURED_AT - timedelta(
        seconds=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS + 1
    )
    with time_machine.travel(early, tick=False):
        response = _send(client, body, header)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "stale_signature"
    assert not WebhookEvent.objects.exists()


def test_a_stripe_replay_within_the_tolerance_is_the_same_event_once(
    db, client, django_capture_on_commit_callbacks
):
    body, header = _captured_stripe_delivery()
    with django_capture_on_commit_callbacks() as callbacks:
        for seconds in (1, 120):
            with time_machine.travel(CAPTURED_AT + timedelta(seconds=seconds)):
                response = _send(client, body, header)
                assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1
    assert len(callbacks) == 1


def test_a_lemonsqueezy_body_replayed_days_later_is_a_duplicate_processed_once(
    db, client, django_capture_on_commit_callbacks
):
    event = ls_event(
        "subscription_updated",
        {"type": "subscriptions", "id": "7", "attributes": {"status": "active"}},
    )
    with django_capture_on_commit_callbacks() as callbacks:
        with time_machine.travel(CAPTURED_AT):
            assert post_lemonsqueezy(client, event).status_code == 200
        with time_machine.travel(CAPTURED_AT + timedelta(days=9)):
            replayed = post_lemonsqueezy(client, event)
    assert replayed.status_code == 200
    assert replayed.json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1
    assert len(callbacks) == 1
