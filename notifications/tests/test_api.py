"""Notifications API: fetch what was missed (`?since=`) and mark read."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from notifications.models import Notification, NotificationKind
from notifications.services import notification_broadcast, notification_send

URL = "/api/notifications"
READ_URL = "/api/notifications/read"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


def send_at(moment: datetime, **kwargs) -> Notification:
    with time_machine.travel(moment, tick=False):
        if kwargs.get("user") is None:
            kwargs.pop("user", None)
            kwargs.pop("kind", None)
            return notification_broadcast(**kwargs)
        return notification_send(**kwargs)


@pytest.fixture
def timeline(user, other_user):
    """Five events: two of `user`, one of `other_user`, two broadcasts (one sent
    before `user` joined)."""
    for person in (user, other_user):
        person.date_joined = T0 - timedelta(days=1)
        person.save(update_fields=["date_joined"])
    early = send_at(T0 - timedelta(days=2), user=None, title="Old news")
    a = send_at(T0, user=user, kind=NotificationKind.QUOTA_WARNING, title="80%")
    b = send_at(T0 + timedelta(minutes=1), user=None, title="New feature")
    send_at(
        T0 + timedelta(minutes=2),
        user=other_user,
        kind=NotificationKind.PAYMENT_FAILED,
        title="not yours",
    )
    c = send_at(
        T0 + timedelta(minutes=3),
        user=user,
        kind=NotificationKind.JOB_COMPLETED,
        title="Video ready",
        data={"job_id": 7},
    )
    return {"early": early, "a": a, "b": b, "c": c}


def test_list_is_own_plus_broadcasts_since_joining_newest_first(
    user, timeline, client_for
):
    response = client_for(user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["title"] for row in body["results"]] == [
        "Video ready",
        "New feature",
        "80%",
    ]
    first = body["results"][0]
    assert first == {
        "id": timeline["c"].pk,
        "kind": "job.completed",
        "title": "Video ready",
        "body": "",
        "data": {"job_id": 7},
        "read": False,
        "broadcast": False,
        "created_at": "2026-11-01T12:03:00.000000Z",
    }
    assert body["results"][1]["broadcast"] is True


def test_since_returns_only_newer_ones_oldest_first(user, timeline, client_for):
    response = client_for(user).get(URL, {"since": "2026-11-01T12:00:00Z"})

    assert response.status_code == 200
    assert [row["title"] for row in response.json()["results"]] == [
        "New feature",
        "Video ready",
    ]


def test_list_is_paginated(user, timeline, client_for):
    body = client_for(user).get(URL, {"page_size": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"].endswith("page=2&page_size=2")
    assert client_for(user).get(URL, {"page_size": 2, "page": 2}).json()["results"]


def test_list_costs_a_fixed_number_of_queries(
    user, timeline, client_for, django_assert_max_num_queries
):
    for n in range(10):
        notification_send(user=user, kind=NotificationKind.JOB_PROGRESS, title=str(n))
    client = client_for(user)
    with django_assert_max_num_queries(2):
        response = client.get(URL)
    assert response.json()["count"] == 13


def test_invalid_since_is_a_400_with_the_field(user, client_for):
    response = client_for(user).get(URL, {"since": "yesterday"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "since" in response.json()["error"]["details"]["fields"]


def test_anonymous_caller_gets_401(api_client):
    assert api_client.get(URL).status_code == 401
    assert api_client.post(READ_URL, {"all": True}, format="json").status_code == 401


def test_mark_read_by_ids_ignores_other_users_ids(
    user, other_user, timeline, client_for
):
    theirs = other_user.notifications.get()
    response = client_for(user).post(
        READ_URL, {"ids": [timeline["a"].pk, timeline["b"].pk, theirs.pk]}, "json"
    )

    assert response.status_code == 200
    assert response.json() == {"marked": 2}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    unread = client_for(user).get(URL, {"unread": "true"}).json()["results"]
    assert [row["title"] for row in unread] == ["Video ready"]


def test_a_broadcast_read_by_one_user_stays_unread_for_another(
    user, other_user, timeline, client_for
):
    client_for(user).post(READ_URL, {"ids": [timeline["b"].pk]}, "json")

    mine = client_for(user).get(URL).json()["results"]
    assert next(r for r in mine if r["id"] == timeline["b"].pk)["read"] is True
    theirs = client_for(other_user).get(URL).json()["results"]
    assert next(r for r in theirs if r["id"] == timeline["b"].pk)["read"] is False


def test_mark_all_read_then_again_marks_nothing(user, timeline, client_for):
    client = client_for(user)
    assert client.post(READ_URL, {"all": True}, "json").json() == {"marked": 3}
    assert client.post(READ_URL, {"all": True}, "json").json() == {"marked": 0}
    assert client.get(URL, {"unread": "true"}).json()["count"] == 0


def test_mark_read_needs_ids_or_all(user, client_for):
    response = client_for(user).post(READ_URL, {}, "json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    bad = client_for(user).post(READ_URL, {"ids": ["x"]}, "json")
    assert bad.status_code == 400


def test_endpoints_are_in_the_openapi_schema(staff_client):
    schema = staff_client.get("/api/schema/?format=json").json()
    listing = schema["paths"]["/api/notifications"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"since", "unread", "page", "page_size"} <= names
    assert "/api/notifications/read" in schema["paths"]
