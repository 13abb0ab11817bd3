"""Receiving deliveries: signatures, limits, storing once, enqueueing after commit."""

import hashlib
import hmac
import json
import os
import threading
import time
from datetime import UTC, datetime

import pytest
import time_machine

from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.selectors import webhook_rejections
from webhooks_app.tests.helpers import (
    LS_SECRET,
    LS_URL,
    STRIPE_SECRET,
    STRIPE_URL,
    lemonsqueezy_signature,
    ls_event,
    post_lemonsqueezy,
    post_stripe,
    stripe_event,
    stripe_signature,
)

# Real concurrent writers need MariaDB (CI); skipped before any database setup.
needs_mysql = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("mysql"),
    reason="concurrent writers are exercised on MariaDB (CI)",
)

pytestmark = pytest.mark.usefixtures("webhook_secrets")

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _unknown_event(event_id="evt_1"):
    return stripe_event("customer.created", {"id": "cus_1"}, event_id=event_id)


def test_valid_stripe_signature_stores_event_and_enqueues_after_commit(
    db, client, django_capture_on_commit_callbacks
):
    event = _unknown_event()
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_stripe(client, event)
    assert response.status_code == 200
    assert response.json() == {
        "received": True,
        "duplicate": False,
        "event_id": "evt_1",
    }
    stored = WebhookEvent.objects.get()
    body = json.dumps(event)
    assert (stored.provider, stored.event_id, stored.event_type) == (
        "stripe",
        "evt_1",
        "customer.created",
    )
    assert stored.payload == body
    assert stored.body_sha256 == hashlib.sha256(body.encode()).hexdigest()
    assert stored.status == EventStatus.RECEIVED
    assert stored.attempts == 0
    assert stored.headers["stripe-signature"].startswith("t=")
    assert stored.headers["content-type"] == "application/json"
    assert len(callbacks) == 1  # the processing task, enqueued after commit


@pytest.mark.parametrize(
    ("case", "make_header"),
    [
        ("wrong secret", lambda body, ts: stripe_signature(body, "whsec_other", ts)),
        ("no v1", lambda body, ts: f"t={ts}"),
        (
            "v0 only",
            lambda body, ts: stripe_signature(body, STRIPE_SECRET, ts).replace(
                "v1=", "v0="
            ),
        ),
        ("garbage", lambda body, ts: "nonsense"),
        ("bad timestamp", lambda body, ts: "t=abc,v1=00"),
        ("non-ascii", lambda body, ts: f"t={ts},v1=\u00e9\u00e9"),
    ],
)
def test_invalid_stripe_signature_is_rejected_and_nothing_stored(
    db, client, case, make_header
):
    body = json.dumps(_unknown_event())
    response = post_stripe(client, body, header=make_header(body, int(time.time())))
    assert response.status_code == 400, case
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    assert webhook_rejections()["stripe"]["bad_signature"] == 1


def test_missing_stripe_signature_is_rejected(db, client):
    response = client.post(
        STRIPE_URL, json.dumps(_unknown_event()), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_tampered_stripe_body_is_rejected(db, client):
    body = json.dumps(_unknown_event())
    header = stripe_signature(body, STRIPE_SECRET, int(time.time()))
    tampered = body.replace("cus_1", "cus_2")
    response = post_stripe(client, tampered, header=header)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_any_matching_v1_is_accepted_during_secret_rotation(db, client):
    body = json.dumps(_unknown_event())
    ts = int(time.time())
    old = stripe_signature(body, "whsec_old_secret", ts).split(",")[1]
    header = f"t={ts},{old},{stripe_signature(body, STRIPE_SECRET, ts).split(',')[1]}"
    assert post_stripe(client, body, header=header).status_code == 200


@pytest.mark.parametrize(
    ("offset", "status"),
    [(-299, 200), (-301, 400), (299, 200), (301, 400)],
)
def test_stripe_timestamp_tolerance_edges(db, client, offset, status):
    with time_machine.travel(NOW, tick=False):
        ts = int(NOW.timestamp()) + offset
        response = post_stripe(client, _unknown_event(), ts=ts)
    assert response.status_code == status
    assert WebhookEvent.objects.count() == (1 if status == 200 else 0)


def test_same_stripe_event_twice_is_stored_once_and_enqueued_once(
    db, client, django_capture_on_commit_callbacks
):
    event = _unknown_event()
    with django_capture_on_commit_callbacks() as callbacks:
        first = post_stripe(client, event)
        second = post_stripe(client, event, ts=int(time.time()) + 1)
    assert first.status_code == second.status_code == 200
    assert second.json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1
    assert len(callbacks) == 1


@needs_mysql
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_deliveries_store_one_row(client, settings):
    body = json.dumps(_unknown_event("evt_concurrent"))
    header = stripe_signature(body, STRIPE_SECRET, int(time.time()))
    settings.CELERY_TASK_ALWAYS_EAGER = False
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def deliver():
        from django.db import connections
        from django.test import Client

        try:
            barrier.wait()
            response = Client().post(
                STRIPE_URL,
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=header,
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    from unittest import mock

    with mock.patch("webhooks_app.services._enqueue") as enqueue:
        threads = [threading.Thread(target=deliver) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 6
    assert WebhookEvent.objects.filter(event_id="evt_concurrent").count() == 1
    assert enqueue.call_count == 1


def test_body_over_limit_gets_413_and_is_counted(db, client, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 200
    event = _unknown_event()
    event["data"]["object"]["padding"] = "x" * 300
    response = post_stripe(client, event)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not WebhookEvent.objects.exists()
    assert webhook_rejections()["stripe"]["too_large"] == 1


def test_wrong_content_type_gets_415(db, client):
    body = json.dumps(_unknown_event())
    response = client.post(
        STRIPE_URL,
        body,
        content_type="text/plain",
        HTTP_STRIPE_SIGNATURE=stripe_signature(body, STRIPE_SECRET, int(time.time())),
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert webhook_rejections()["stripe"]["wrong_content_type"] == 1


def test_without_a_secret_the_endpoint_answers_503(db, client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = post_stripe(client, _unknown_event())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_not_configured"


def test_signed_but_malformed_event_is_rejected(db, client):
    response = post_stripe(client, json.dumps({"type": "x"}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert post_stripe(client, "[1, 2]").status_code == 400
    assert not WebhookEvent.objects.exists()


def test_get_is_not_allowed(db, client):
    assert client.get(STRIPE_URL).status_code == 405


# --- LemonSqueezy ---


def _ls_subscription_event(**kwargs):
    return ls_event(
        "subscription_updated",
        {"type": "subscriptions", "id": "1", "attributes": {"status": "active"}},
        **kwargs,
    )


def test_valid_lemonsqueezy_signature_stores_event_keyed_by_body_hash(db, client):
    event = _ls_subscription_event(custom_data={"user_id": "1"})
    response = post_lemonsqueezy(client, event)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    digest = hashlib.sha256(json.dumps(event).encode()).hexdigest()
    assert stored.event_id == digest == stored.body_sha256
    assert stored.event_type == "subscription_updated"
    assert stored.headers["x-event-name"] == "subscription_updated"


def test_same_lemonsqueezy_body_twice_is_stored_once(db, client):
    event = _ls_subscription_event()
    assert post_lemonsqueezy(client, event).status_code == 200
    second = post_lemonsqueezy(client, event)
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1


@pytest.mark.parametrize(
    "signature",
    ["", "deadbeef", lemonsqueezy_signature("{}", LS_SECRET), "\u00e9"],
)
def test_invalid_lemonsqueezy_signature_is_rejected(db, client, signature):
    response = post_lemonsqueezy(client, _ls_subscription_event(), signature=signature)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()
    assert webhook_rejections()["lemonsqueezy"]["bad_signature"] == 1


def test_missing_lemonsqueezy_signature_is_rejected(db, client):
    body = json.dumps(_ls_subscription_event())
    response = client.post(LS_URL, body, content_type="application/json")
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_test_mode_events_are_refused_in_production(db, client, settings):
    settings.LEMONSQUEEZY_TEST_MODE = False
    response = post_lemonsqueezy(client, _ls_subscription_event(test_mode=True))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "test_mode_refused"
    assert not WebhookEvent.objects.exists()
    live = post_lemonsqueezy(client, _ls_subscription_event(test_mode=False))
    assert live.status_code == 200


def test_test_mode_events_are_accepted_outside_production(db, client, settings):
    settings.LEMONSQUEEZY_TEST_MODE = True
    response = post_lemonsqueezy(client, _ls_subscription_event(test_mode=True))
    assert response.status_code == 200


def test_no_secret_or_signature_reaches_the_logs(db, client, caplog, settings):
    import logging

    caplog.set_level(logging.DEBUG)
    body = json.dumps(_unknown_event("evt_log"))
    header = stripe_signature(body, STRIPE_SECRET, int(time.time()))
    post_stripe(client, body, header=header)
    post_stripe(client, body, secret="whsec_wrong_secret")
    post_lemonsqueezy(client, _ls_subscription_event(), secret="wrong-ls-secret")
    logged = caplog.text
    assert any(r.getMessage() == "Webhook delivery rejected" for r in caplog.records)
    for secret in (STRIPE_SECRET, LS_SECRET, header.split("v1=")[1]):
        assert secret not in logged


# --- Encodings ---


def _utf16(event) -> bytes:
    return json.dumps(event).encode("utf-16")


def test_signed_utf16_stripe_body_is_400_invalid_payload_not_500(db, client):
    body = _utf16(_unknown_event("evt_utf16"))
    ts = int(time.time())
    sig = hmac.new(
        STRIPE_SECRET.encode(), str(ts).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    response = client.post(
        STRIPE_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={ts},v1={sig}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert not WebhookEvent.objects.exists()
    assert webhook_rejections()["stripe"]["invalid_payload"] == 1


def test_signed_utf16_lemonsqueezy_body_is_400_invalid_payload_not_500(db, client):
    body = _utf16(_ls_subscription_event())
    sig = hmac.new(LS_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post(
        LS_URL, body, content_type="application/json", HTTP_X_SIGNATURE=sig
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert not WebhookEvent.objects.exists()


# --- Nesting ---


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [1_000, 200])
def test_signed_deeply_nested_stripe_body_is_400_invalid_payload_not_500(
    db, client, depth
):
    event = _unknown_event("evt_nested")
    body = json.dumps(event)[:-1] + ', "metadata": ' + _nested(depth) + "}"
    response = post_stripe(client, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_payload"
    assert not WebhookEvent.objects.exists()
    assert webhook_rejections()["stripe"]["invalid_payload"] == 1


@pytest.mark.parametrize("depth", [1_000, 200])
def test_signed_deeply_nested_lemonsqueezy_body_is_400_invalid_payload_not_500(
    db, client, depth
):
    body = json.dumps(_ls_subscription_event())[:-1] + ', "x": ' + _nested(depth) + "}"
    sig = lemonsqueezy_signature(body, LS_SECRET)
    response = client.post(
        LS_URL, body, content_type="application/json", HTTP_X_SIGNATURE=sig
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_payload"
    assert not WebhookEvent.objects.exists()


def test_signed_stripe_body_nested_within_the_bound_is_stored(db, client, settings):
    event = _unknown_event("evt_nested_ok")
    body = json.dumps(event)[:-1] + ', "metadata": ' + _nested(8) + "}"
    assert post_stripe(client, body).status_code == 200
    assert WebhookEvent.objects.count() == 1
