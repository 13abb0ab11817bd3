"""`/api/admin/notifications`: the right audience gets it live, it is stored,
counted, audited and (optionally) e-mailed once."""

import pytest
from asgiref.sync import sync_to_async
from auditlog.models import LogEntry
from django.core import mail
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from dashboard.models import Announcement
from dashboard.services.announcements import announcement_email_deliver
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.websockets import communicator
from notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(db):
    pro, starter, free = UserFactory(), UserFactory(), UserFactory()
    subscription_row(user=pro, plan="pro")
    subscription_row(user=starter, plan="starter")
    return pro, starter, free


async def _sockets(users):
    sockets = []
    for user in users:
        comm = communicator("/ws/notifications/", token=jwt_for(user))
        assert (await comm.connect())[0] is True
        sockets.append(comm)
    return sockets


async def _post(client, body):
    return await sync_to_async(client.post)(
        "/api/admin/notifications", body, format="json"
    )


async def test_plan_audience_reaches_only_that_plan(people, staff_client):
    pro, starter, free = people
    sockets = await _sockets([pro, starter, free])
    response = await _post(
        staff_client,
        {"audience": "plan", "plan": "pro", "title": "Pro news", "level": "warning"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["recipients"] == 1

    event = await sockets[0].receive_json_from(timeout=2)
    assert (event["kind"], event["title"]) == ("broadcast", "Pro news")
    assert event["data"]["level"] == "warning"
    for other in sockets[1:]:
        assert await other.receive_nothing(timeout=0.3)
    for comm in sockets:
        await comm.disconnect()
    stored = await sync_to_async(list)(
        Notification.objects.filter(title="Pro news").values_list("user_id", flat=True)
    )
    assert stored == [pro.pk]


async def test_one_user_audience(people, staff_client):
    pro, starter, free = people
    sockets = await _sockets([pro, starter])
    response = await _post(
        staff_client, {"audience": "user", "user_id": starter.pk, "title": "Hi Bob"}
    )
    assert response.json()["recipients"] == 1
    assert (await sockets[1].receive_json_from(timeout=2))["title"] == "Hi Bob"
    assert await sockets[0].receive_nothing(timeout=0.3)
    for comm in sockets:
        await comm.disconnect()


async def test_everyone_audience_is_one_broadcast_to_every_socket(
    people, staff_client, staff_user
):
    sockets = await _sockets(people)
    response = await _post(
        staff_client,
        {
            "audience": "all",
            "title": "Maintenance",
            "body": "02:00 UTC",
            "level": "critical",
        },
    )
    # pro, starter, free and the staff member
    assert response.json()["recipients"] == 4
    for comm in sockets:
        event = await comm.receive_json_from(timeout=2)
        assert (event["title"], event["body"]) == ("Maintenance", "02:00 UTC")
        await comm.disconnect()
    stored = await sync_to_async(Notification.objects.filter(title="Maintenance").get)()
    assert stored.user_id is None

    listed = await sync_to_async(staff_client.get)("/api/admin/notifications")
    [row] = listed.json()["results"]
    assert row["audience"] == "all"
    assert row["recipients"] == 4
    assert row["sent_by"] == staff_user.email
    assert row["level"] == "critical"


def test_send_is_audited(people, staff_client, staff_user):
    response = staff_client.post(
        "/api/admin/notifications",
        {"audience": "plan", "plan": "starter", "title": "Starter tips"},
        format="json",
        HTTP_X_REQUEST_ID="req-announce-1",
    )
    announcement = Announcement.objects.get(pk=response.json()["id"])
    [entry] = [
        row
        for row in LogEntry.objects.get_for_object(announcement)
        if (row.additional_data or {}).get("action") == "notification.send"
    ]
    assert entry.actor == staff_user
    assert entry.cid == "req-announce-1"
    assert entry.changes["recipients"] == [None, "1"]


def test_email_goes_to_the_audience_once(people, staff_client, eager_celery):
    pro, starter, free = people
    response = staff_client.post(
        "/api/admin/notifications",
        {"audience": "plan", "plan": "free", "title": "Upgrade", "email": True},
        format="json",
    )
    assert response.status_code == 201
    # free: the free user and the staff member (no paid plan)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [free.email, response.wsgi_request.user.email]
    )
    assert mail.outbox[0].subject == "[Info] Upgrade"
    # a redelivered task sends nothing more
    assert announcement_email_deliver(announcement_id=response.json()["id"]) == 0
    assert len(mail.outbox) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"audience": "user", "title": "x"},
        {"audience": "user", "user_id": 999999, "title": "x"},
        {"audience": "plan", "title": "x"},
        {"audience": "plan", "plan": "platinum", "title": "x"},
        {"audience": "all", "title": "x", "level": "fatal"},
        {"audience": "everyone", "title": "x"},
        {"audience": "all"},
    ],
)
def test_bad_sends_are_400_and_store_nothing(staff_client, body):
    response = staff_client.post("/api/admin/notifications", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert not Announcement.objects.exists()
    assert not Notification.objects.exists()


def test_anonymous_401_normal_and_premium_403(people):
    pro, _starter, free = people
    assert APIClient().get("/api/admin/notifications").status_code == 401
    for who in (free, pro):
        client = APIClient()
        client.force_authenticate(user=who)
        for method in ("get", "post"):
            response = getattr(client, method)(
                "/api/admin/notifications", {}, format="json"
            )
            assert response.status_code == 403
