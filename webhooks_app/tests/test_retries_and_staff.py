"""Retries and the dead-letter state, the staff endpoints, the admin action, the
re-queue of lost messages, and the production safety checks."""

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.openapi import declared_statuses, schema_document
from billing.models import Subscription
from billing.tests.factories import stripe_subscription
from webhooks_app.checks import djstripe_webhook_override_impossible
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.selectors import webhook_stats
from webhooks_app.tasks import webhook_event_process_task, webhook_retry_countdown
from webhooks_app.tests.helpers import post_stripe, stripe_event

pytestmark = pytest.mark.django_db


def _deliver(client, capture, fake_stripe, user) -> WebhookEvent:
    fake_stripe.put_customer("cus_r", user=user)
    obj = fake_stripe.put_subscription(
        stripe_subscription(sub_id="sub_r", customer="cus_r", user_id=user.pk)
    )
    with capture():
        assert (
            post_stripe(
                client,
                stripe_event("customer.subscription.updated", obj, event_id="evt_r"),
            ).status_code
            == 200
        )
    return WebhookEvent.objects.get(event_id="evt_r")


def test_a_failure_is_retried_then_succeeds(
    client, django_capture_on_commit_callbacks, fake_stripe, user
):
    event = _deliver(client, django_capture_on_commit_callbacks, fake_stripe, user)
    fake_stripe.fail_next(500)  # Stripe answers 500 once
    with django_capture_on_commit_callbacks(execute=True):
        result = webhook_event_process_task.apply(args=[event.pk])
    assert result.get() == EventStatus.PROCESSED
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, "")
    assert Subscription.objects.get(external_id="sub_r").status == "active"


def test_exhausted_retries_land_failed_then_the_retry_endpoint_replays(
    client,
    django_capture_on_commit_callbacks,
    fake_stripe,
    user,
    staff_client,
    settings,
):
    settings.WEBHOOK_MAX_RETRIES = 2
    event = _deliver(client, django_capture_on_commit_callbacks, fake_stripe, user)
    fake_stripe.fail_next(500, times=1000)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_process_task.apply(args=[event.pk]).get() == "failed"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (EventStatus.FAILED, 3)
    assert "PaymentProviderError" in event.last_error
    assert not Subscription.objects.exists()
    assert webhook_stats()["failed_last_24h"] == 1

    fake_stripe.clear_faults()  # Stripe is back
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            "/api/webhooks/retry", {"status": "failed"}, format="json"
        )
    assert response.status_code == 200
    assert response.json() == {"requeued": 1}
    assert len(callbacks) == 1  # enqueued after commit
    event.refresh_from_db()
    assert event.status == EventStatus.RECEIVED
    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_process_task.apply(args=[event.pk])
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert Subscription.objects.get(external_id="sub_r").status == "active"


def test_retry_by_event_ids_skips_processed_events(staff_client, webhook_secrets):
    _row("stripe", "evt_a", "invoice.paid", EventStatus.FAILED)
    _row("stripe", "evt_b", "invoice.paid", EventStatus.PROCESSED)
    response = staff_client.post(
        "/api/webhooks/retry", {"event_ids": ["evt_a", "evt_b"]}, format="json"
    )
    assert response.json() == {"requeued": 1}
    assert WebhookEvent.objects.get(event_id="evt_b").status == EventStatus.PROCESSED


def test_retry_needs_exactly_one_selector(staff_client):
    response = staff_client.post("/api/webhooks/retry", {}, format="json")
    assert response.status_code == 400
    both = staff_client.post(
        "/api/webhooks/retry", {"status": "failed", "event_ids": ["x"]}, format="json"
    )
    assert both.status_code == 400
    processed = staff_client.post(
        "/api/webhooks/retry", {"status": "processed"}, format="json"
    )
    assert processed.status_code == 400


def test_retry_id_limit_is_a_setting_read_per_request(staff_client, settings):
    settings.WEBHOOK_RETRY_MAX_IDS = 2
    too_many = staff_client.post(
        "/api/webhooks/retry", {"event_ids": ["a", "b", "c"]}, format="json"
    )
    assert too_many.status_code == 400
    assert "event_ids" in too_many.json()["error"]["details"]["fields"]
    ok = staff_client.post(
        "/api/webhooks/retry", {"event_ids": ["a", "b"]}, format="json"
    )
    assert ok.status_code == 200
    settings.WEBHOOK_RETRY_MAX_IDS = 3
    again = staff_client.post(
        "/api/webhooks/retry", {"event_ids": ["a", "b", "c"]}, format="json"
    )
    assert again.status_code == 200


def test_backoff_is_exponential_capped_and_jittered(settings):
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 10
    settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = 60
    for retries, ceiling in [(0, 10), (1, 20), (2, 40), (3, 60), (8, 60)]:
        values = {webhook_retry_countdown(retries=retries) for _ in range(200)}
        assert max(values) <= ceiling
        assert len(values) > 1  # jitter


def _row(provider, event_id, event_type, status, *, ms=None, received=None):
    now = timezone.now()
    return WebhookEvent.objects.create(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        payload="{}",
        body_sha256="0" * 64,
        received_at=received or now,
        status=status,
        processing_ms=ms,
        processed_at=now if ms is not None else None,
        last_attempt_at=now,
    )


def test_stats_match_the_stored_rows(staff_client):
    old = timezone.now() - timedelta(days=2)
    for index, ms in enumerate([10, 20, 30, 40, 1000]):
        _row("stripe", f"evt_{index}", "invoice.paid", EventStatus.PROCESSED, ms=ms)
    _row("stripe", "evt_f", "invoice.paid", EventStatus.FAILED)
    old_failure = _row("stripe", "evt_old", "invoice.paid", EventStatus.FAILED)
    WebhookEvent.objects.filter(pk=old_failure.pk).update(last_attempt_at=old)
    _row("stripe", "evt_i", "customer.created", EventStatus.IGNORED, ms=1)
    latest = _row("lemonsqueezy", "h1", "order_created", EventStatus.RECEIVED)
    response = staff_client.get("/api/webhooks/stats")
    assert response.status_code == 200
    stats = response.json()
    assert stats["total"] == WebhookEvent.objects.count() == 9
    assert stats["by_status"] == {
        "received": 1,
        "processing": 0,
        "processed": 5,
        "failed": 2,
        "ignored": 1,
    }
    stripe = stats["providers"]["stripe"]
    assert stripe["total"] == 8
    assert stripe["by_type"]["invoice.paid"]["processed"] == 5
    assert stripe["by_type"]["invoice.paid"]["failed"] == 2
    assert stripe["by_type"]["customer.created"]["ignored"] == 1
    assert stats["providers"]["lemonsqueezy"]["last_received_at"].startswith(
        latest.received_at.strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert stats["processing_ms"] == {
        "count": 6,
        "p50": 20,
        "p90": 1000,
        "p95": 1000,
        "p99": 1000,
        "max": 1000,
    }
    assert stats["failed_last_24h"] == 1


def test_stats_count_rejected_deliveries(client, staff_client, webhook_secrets):
    post_stripe(client, stripe_event("x.y", {}), secret="whsec_wrong")
    stats = staff_client.get("/api/webhooks/stats").json()
    assert stats["rejected"]["stripe"]["bad_signature"] == 1
    assert stats["total"] == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/webhooks/stats"), ("post", "/api/webhooks/retry")],
)
def test_non_staff_get_403_and_anonymous_401(auth_client, api_client, method, path):
    refused = getattr(auth_client, method)(path, {}, format="json")
    assert refused.status_code == 403
    # the project's one staff gate and code, like every /api/admin endpoint
    assert refused.json()["error"]["code"] == "admin_required"
    assert getattr(api_client, method)(path, {}, format="json").status_code == 401


def test_admin_lists_events_and_retries_selected(client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    failed = _row("stripe", "evt_adm", "invoice.paid", EventStatus.FAILED)
    client.force_login(staff_user)
    listing = client.get("/admin/webhooks_app/webhookevent/?status=failed&q=evt_adm")
    assert listing.status_code == 200
    assert b"evt_adm" in listing.content
    response = client.post(
        "/admin/webhooks_app/webhookevent/",
        {"action": "retry_selected", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert response.status_code == 200
    failed.refresh_from_db()
    assert failed.status == EventStatus.RECEIVED


def test_production_settings_force_debug_off():
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="flowmatik.settings.production",
        DEBUG="True",
        SECRET_KEY="x" * 50,
        JWT_SECRET="y" * 50,
        ALLOWED_HOSTS="example.com",
        FLOWMATIK_READ_DOT_ENV="false",
    )
    code = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.DEBUG, settings.ENVIRONMENT)"
    )
    output = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert output[-2:] == ["False", "production"]


def test_system_check_refuses_debug_in_production(settings):
    settings.ENVIRONMENT = "production"
    settings.DEBUG = True
    ids = [error.id for error in djstripe_webhook_override_impossible(None)]
    assert ids == ["webhooks_app.E001"]
    settings.DEBUG = False
    assert djstripe_webhook_override_impossible(None) == []


def test_system_check_refuses_a_mounted_djstripe_webhook(settings):
    settings.ROOT_URLCONF = "webhooks_app.tests.djstripe_urls"
    ids = [error.id for error in djstripe_webhook_override_impossible(None)]
    assert ids == ["webhooks_app.E002"]


def test_djstripe_webhook_url_is_not_mounted(client):
    from django.urls import NoReverseMatch, reverse

    with pytest.raises(NoReverseMatch):
        reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": "x"})
    call_command("check")  # our checks pass on the real URL configuration


def test_schema_documents_the_webhook_endpoints(api_client):
    schema = api_client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    for path in ("stripe", "lemonsqueezy", "stats", "retry"):
        assert f"/api/webhooks/{path}" in paths
    stripe = paths["/api/webhooks/stripe"]["post"]
    assert {"200", "400", "413", "415", "503"} <= set(stripe["responses"])


def test_staff_endpoints_declare_the_error_statuses_they_return(
    auth_client, api_client, staff_client
):
    document = schema_document(api_client)
    answers = {
        ("/api/webhooks/stats", "get"): [
            auth_client.get("/api/webhooks/stats"),
            api_client.get("/api/webhooks/stats"),
        ],
        ("/api/webhooks/retry", "post"): [
            staff_client.post("/api/webhooks/retry", {}, format="json"),
            auth_client.post("/api/webhooks/retry", {}, format="json"),
            api_client.post("/api/webhooks/retry", {}, format="json"),
        ],
    }
    for (path, method), responses in answers.items():
        returned = {response.status_code for response in responses}
        assert returned <= declared_statuses(document, path, method), path
    assert {400, 401, 403} <= declared_statuses(document, "/api/webhooks/retry", "post")


def test_events_whose_message_was_lost_are_requeued(
    settings, django_capture_on_commit_callbacks
):
    from webhooks_app.tasks import webhook_events_requeue_stale_task

    settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = 600
    settings.WEBHOOK_STALE_AFTER_SECONDS = 300
    long_ago = timezone.now() - timedelta(seconds=1000)
    lost = _row("stripe", "evt_lost", "invoice.paid", EventStatus.RECEIVED)
    WebhookEvent.objects.filter(pk=lost.pk).update(
        received_at=long_ago, last_attempt_at=None
    )
    waiting = _row("stripe", "evt_wait", "invoice.paid", EventStatus.RECEIVED)
    WebhookEvent.objects.filter(pk=waiting.pk).update(
        received_at=long_ago, last_attempt_at=timezone.now() - timedelta(seconds=60)
    )
    _row("stripe", "evt_done", "invoice.paid", EventStatus.PROCESSED, ms=5)
    with django_capture_on_commit_callbacks() as callbacks:
        assert webhook_events_requeue_stale_task.apply().get() == 1
    assert len(callbacks) == 1
    assert "webhooks-requeue-stale-events" in settings.CELERY_BEAT_SCHEDULE
