"""The Django admin staff run the business from: summary index, audited changes,
actions (boost, deactivate, export, resend) and notifications through the service."""

import csv
import io

import pytest
import time_machine
from asgiref.sync import sync_to_async
from auditlog.models import LogEntry
from django.test import Client

from accounts.models import ApiKey, User
from accounts.tests.factories import UserFactory
from billing.models import Plan
from dashboard.models import Announcement
from dashboard.tests.admin_data import NOW, build_business
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.websockets import communicator
from notifications.models import Notification
from usage.models import QuotaOverride


@pytest.fixture
def superuser(db):
    return UserFactory(is_staff=True, is_superuser=True, email="root@example.com")


@pytest.fixture
def admin_client(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def business(db):
    with time_machine.travel(NOW, tick=False):
        yield build_business()


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = response.content.decode()
    return list(csv.reader(io.StringIO(body)))


def test_index_opens_with_the_usage_and_revenue_summary(business, superuser):
    with time_machine.travel(NOW, tick=False):
        client = Client()
        client.force_login(superuser)
        response = client.get("/admin/")
    assert response.status_code == 200
    summary = response.context["summary"]
    assert summary["revenue"]["mrr"] == {"USD": "58.00"}
    assert summary["ai_today"]["requests"] == 4
    assert summary["live_subscriptions"] == 2
    page = response.content.decode()
    assert "Today at a glance" in page
    assert "58.00 USD" in page


def test_a_change_in_the_admin_is_audited_with_the_staff_member(
    admin_client, superuser
):
    plan = Plan.objects.get(slug="starter")
    response = admin_client.post(
        f"/admin/billing/plan/{plan.pk}/change/",
        {
            "slug": "starter",
            "name": "Starter",
            "description": plan.description,
            "is_active": "on",
            "sort_order": plan.sort_order,
            "price": "21.00",
            "currency": "USD",
            "interval": "month",
            "requests_per_day": plan.requests_per_day or "",
            "tokens_per_day": plan.tokens_per_day or "",
            "features": '["chat"]',
            "stripe_price_id": "",
            "lemonsqueezy_variant_id": "",
        },
        HTTP_X_REQUEST_ID="req-admin-plan",
    )
    assert response.status_code == 302, response.content
    entry = LogEntry.objects.get_for_object(plan).latest("timestamp")
    assert entry.actor == superuser
    assert entry.cid == "req-admin-plan"
    assert entry.changes["price"] == ["19.00", "21.00"]


def test_boost_action_asks_then_applies_and_audits(business, admin_client, superuser):
    users = [business.bob.pk, business.dave.pk]
    form = admin_client.post(
        "/admin/accounts/user/",
        {"action": "grant_quota_boost", "_selected_action": users},
    )
    assert form.status_code == 200
    assert b"Grant boost" in form.content
    done = admin_client.post(
        "/admin/accounts/user/",
        {
            "action": "grant_quota_boost",
            "_selected_action": users,
            "apply": "1",
            "requests": "25",
            "tokens": "0",
            "hours": "48",
            "reason": "promo",
        },
    )
    assert done.status_code == 302
    overrides = QuotaOverride.objects.filter(user_id__in=users)
    assert sorted(o.boost_requests for o in overrides) == [25, 25]
    assert {o.updated_by_id for o in overrides} == {superuser.pk}
    boosts = LogEntry.objects.filter(additional_data__action="user.quota_boost")
    assert boosts.count() == 2


def test_deactivate_action_revokes_keys_and_is_audited(
    business, admin_client, api_key_for
):
    api_key_for(business.bob)
    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "deactivate_users", "_selected_action": [business.bob.pk]},
    )
    assert response.status_code == 302
    assert not User.objects.get(pk=business.bob.pk).is_active
    assert not ApiKey.objects.filter(
        user=business.bob, revoked_at__isnull=True
    ).exists()
    assert LogEntry.objects.filter(additional_data__action="user.deactivate").exists()


def test_users_export_as_csv(business, admin_client):
    rows = _csv(
        admin_client.post(
            "/admin/accounts/user/",
            {
                "action": "export_csv",
                "_selected_action": [business.alice.pk, business.bob.pk],
            },
        )
    )
    assert rows[0][:7] == ["id", "email", "name", "company", "role", "plan", "provider"]
    by_email = {row[1]: row for row in rows[1:]}
    assert by_email["alice@example.com"][4:7] == ["premium", "pro", "stripe"]
    assert by_email["bob@example.com"][4:7] == ["premium", "starter", "lemonsqueezy"]


def test_payments_export_as_csv(business, admin_client):
    from billing.models import Payment

    ids = list(Payment.objects.values_list("pk", flat=True))
    rows = _csv(
        admin_client.post(
            "/admin/billing/payment/",
            {"action": "export_csv", "_selected_action": ids},
        )
    )
    assert rows[0] == [
        "id",
        "paid_at",
        "provider",
        "external_id",
        "user_email",
        "plan",
        "amount",
        "currency",
        "status",
    ]
    assert len(rows) == 1 + len(ids)
    assert sorted(row[6] for row in rows[1:] if row[8] == "paid") == [
        "10.00",
        "19.00",
        "39.00",
        "39.00",
    ]


def test_csv_cells_cannot_smuggle_formulas(admin_client):
    UserFactory(email="x@example.com", name="=HYPERLINK(evil)")
    user = User.objects.get(email="x@example.com")
    rows = _csv(
        admin_client.post(
            "/admin/accounts/user/",
            {"action": "export_csv", "_selected_action": [user.pk]},
        )
    )
    assert rows[1][2] == "'=HYPERLINK(evil)"


@pytest.mark.django_db(transaction=True)
async def test_a_notification_added_in_the_admin_is_pushed_live(superuser, user):
    socket = communicator("/ws/notifications/", token=jwt_for(user))
    assert (await socket.connect())[0] is True
    client = Client()
    await sync_to_async(client.force_login)(superuser)
    response = await sync_to_async(client.post)(
        "/admin/notifications/notification/add/",
        {
            "user": user.pk,
            "kind": "broadcast",
            "title": "Hello from staff",
            "body": "",
            "data": "{}",
        },
    )
    assert response.status_code == 302, response.content
    event = await socket.receive_json_from(timeout=2)
    assert event["title"] == "Hello from staff"
    await socket.disconnect()
    assert await sync_to_async(Notification.objects.filter(user=user).count)() == 1

    # resending pushes again
    stored = await sync_to_async(Notification.objects.get)(user=user)
    socket = communicator("/ws/notifications/", token=jwt_for(user))
    assert (await socket.connect())[0] is True
    await sync_to_async(client.post)(
        "/admin/notifications/notification/",
        {"action": "resend", "_selected_action": [stored.pk]},
    )
    assert (await socket.receive_json_from(timeout=2))["title"] == "Hello from staff"
    await socket.disconnect()


def test_an_announcement_added_in_the_admin_goes_through_the_service(
    business, admin_client
):
    response = admin_client.post(
        "/admin/dashboard/announcement/add/",
        {
            "audience": "plan",
            "plan_slug": "pro",
            "title": "Pro webinar",
            "body": "Thursday",
            "level": "info",
        },
    )
    assert response.status_code == 302, response.content
    announcement = Announcement.objects.get()
    assert announcement.recipients == 1
    assert Notification.objects.filter(
        user=business.alice, title="Pro webinar"
    ).exists()


def test_key_revocation_and_webhook_retry_from_the_admin_are_audited(
    admin_client, superuser, user, api_key_for
):
    from webhooks_app.models import EventStatus, WebhookEvent

    api_key_for(user)
    key = ApiKey.objects.get(user=user)
    admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [key.pk]},
    )
    [revoked] = LogEntry.objects.filter(additional_data__action="api_key.revoke")
    assert revoked.actor == superuser
    assert revoked.object_pk == str(key.pk)

    event = WebhookEvent.objects.create(
        provider="stripe",
        event_id="evt_failed",
        event_type="invoice.paid",
        payload="{}",
        body_sha256="0" * 64,
        received_at=NOW,
        status=EventStatus.FAILED,
    )
    admin_client.post(
        "/admin/webhooks_app/webhookevent/",
        {"action": "retry_selected", "_selected_action": [event.pk]},
    )
    [retried] = LogEntry.objects.filter(additional_data__action="webhook.retry")
    assert retried.actor == superuser
    assert retried.changes == {"status": ["failed", "received"]}


def test_webhook_retry_through_the_api_is_audited(staff_client, staff_user):
    from webhooks_app.models import EventStatus, WebhookEvent

    WebhookEvent.objects.create(
        provider="stripe",
        event_id="evt_api_failed",
        event_type="invoice.paid",
        payload="{}",
        body_sha256="0" * 64,
        received_at=NOW,
        status=EventStatus.FAILED,
    )
    response = staff_client.post(
        "/api/webhooks/retry",
        {"event_ids": ["evt_api_failed"]},
        format="json",
        HTTP_X_REQUEST_ID="req-retry-1",
    )
    assert response.json()["requeued"] == 1
    [entry] = LogEntry.objects.filter(additional_data__action="webhook.retry")
    assert entry.actor == staff_user
    assert entry.cid == "req-retry-1"
    assert entry.additional_data["event_id"] == "evt_api_failed"
