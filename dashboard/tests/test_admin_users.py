"""`/api/admin/users`: search, filters, pagination, detail, and audited changes."""

from datetime import timedelta

import pytest
import time_machine
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from dashboard.tests.admin_data import NOW, build_business

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def business(frozen):
    return build_business()


def _emails(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["email"] for row in response.json()["results"]]


def _audit(user: User, action: str) -> list[LogEntry]:
    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(User),
            object_pk=str(user.pk),
            additional_data__action=action,
        )
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/admin/users"),
        ("get", "/api/admin/users/1"),
        ("patch", "/api/admin/users/1"),
    ],
)
def test_anonymous_401_normal_and_premium_users_403(method, path, user):
    assert getattr(APIClient(), method)(path, {}, format="json").status_code == 401
    premium = UserFactory()
    subscription_row(user=premium, plan="pro")
    for who in (user, premium):
        client = APIClient()
        client.force_authenticate(user=who)
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "admin_required"


def test_rows_carry_plan_usage_today_and_cost_this_month(business, staff_client):
    body = staff_client.get("/api/admin/users", {"search": "alice"}).json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["email"] == "alice@example.com"
    assert row["role"] == "premium"
    assert row["plan"] == "pro"
    assert row["provider"] == "stripe"
    # today: 3 counted calls of 100 tokens (the failed one counts no request)
    assert row["usage_today"] == {"requests": 3, "total_tokens": 300}
    # this month: 3 x 0.30 today + 2 x 1.00 yesterday (last month's 5.00 is out)
    assert row["cost_this_month"] == {"USD": "2.900000"}


def test_search_matches_name_or_email(business, staff_client):
    assert _emails(staff_client.get("/api/admin/users", {"search": "builder"})) == [
        "bob@example.com"
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"role": "premium", "sort": "email"},
            ["alice@example.com", "bob@example.com"],
        ),
        ({"role": "admin"}, ["staff"]),
        ({"plan": "pro"}, ["alice@example.com"]),
        ({"plan": "free"}, ["carol@example.com", "dave@example.com", "staff"]),
        ({"provider": "lemonsqueezy"}, ["bob@example.com"]),
        ({"provider": "none"}, ["carol@example.com", "dave@example.com", "staff"]),
        ({"is_active": "false"}, ["carol@example.com"]),
        (
            {
                "joined_from": "2026-11-10T00:00:00Z",
                "joined_to": "2026-11-18T00:00:00Z",
            },
            ["bob@example.com", "dave@example.com"],
        ),
    ],
)
def test_filters(business, staff_client, staff_user, params, expected):
    emails = _emails(staff_client.get("/api/admin/users", params))
    expected = [staff_user.email if e == "staff" else e for e in expected]
    if "sort" not in params:
        emails, expected = sorted(emails), sorted(expected)
    assert emails == expected


def test_sort_by_cost_this_month_and_paginate(business, staff_client):
    first = staff_client.get(
        "/api/admin/users", {"sort": "-cost_month", "page_size": 2}
    ).json()
    assert first["count"] == 5
    assert [row["email"] for row in first["results"]] == [
        "alice@example.com",
        "bob@example.com",
    ]
    assert first["next"] is not None
    assert first["previous"] is None
    last = staff_client.get(
        "/api/admin/users", {"sort": "-cost_month", "page_size": 2, "page": 3}
    ).json()
    assert len(last["results"]) == 1
    assert staff_client.get("/api/admin/users", {"page": 9}).status_code == 404


def test_list_queries_do_not_grow_with_the_page(
    business, staff_client, django_assert_max_num_queries
):
    for _ in range(15):
        UserFactory()
    with django_assert_max_num_queries(6):
        response = staff_client.get("/api/admin/users", {"page_size": 20})
    assert len(response.json()["results"]) == 20


@pytest.mark.parametrize(
    "params",
    [
        {"role": "owner"},
        {"provider": "paypal"},
        {"sort": "password"},
        {"joined_from": "yesterday"},
        {"page_size": "0"},
    ],
)
def test_bad_list_parameters_are_400(staff_client, params):
    response = staff_client.get("/api/admin/users", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_detail_shows_subscription_keys_requests_and_override(
    business, staff_client, api_key_for
):
    api_key_for(business.alice)
    body = staff_client.get(f"/api/admin/users/{business.alice.pk}").json()
    assert body["role"] == "premium"
    assert body["plan"] == "pro"
    assert body["subscription"]["provider"] == "stripe"
    assert body["subscription"]["status"] == "active"
    assert [key["name"] for key in body["api_keys"]] == ["test"]
    assert len(body["recent_requests"]) == 7
    assert body["recent_requests"][0]["request_id"].startswith("req_admin_")
    assert body["usage_this_month"][0]["cost"] == "2.900000"
    assert body["quota"]["requests_used"] >= 0
    assert body["quota_override"] is None
    assert body["jobs"] == []


def test_missing_user_is_404(staff_client):
    response = staff_client.get("/api/admin/users/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_deactivation_revokes_keys_and_tokens_at_once_and_is_audited(
    business, staff_client, staff_user, api_key_for, jwt_for
):
    raw_key = api_key_for(business.bob)
    token = jwt_for(business.bob)
    for credential in (raw_key, token):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
        assert client.get("/api/auth/me").status_code == 200

    response = staff_client.patch(
        f"/api/admin/users/{business.bob.pk}",
        {"is_active": False},
        format="json",
        HTTP_X_REQUEST_ID="req-deactivate-bob",
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False
    assert all(key["revoked_at"] for key in response.json()["api_keys"])
    for credential in (raw_key, token):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
        assert client.get("/api/auth/me").status_code == 401

    [entry] = _audit(business.bob, "user.deactivate")
    assert entry.actor == staff_user
    assert entry.cid == "req-deactivate-bob"
    assert entry.changes == {"is_active": ["True", "False"]}
    assert entry.additional_data["api_keys_revoked"] == 1

    again = staff_client.patch(
        f"/api/admin/users/{business.bob.pk}", {"is_active": True}, format="json"
    )
    assert again.json()["is_active"] is True
    assert len(_audit(business.bob, "user.reactivate")) == 1


def test_role_change_is_audited_with_before_and_after(
    business, staff_client, staff_user
):
    response = staff_client.patch(
        f"/api/admin/users/{business.dave.pk}", {"role": "admin"}, format="json"
    )
    assert response.json()["role"] == "admin"
    [entry] = _audit(business.dave, "user.role_change")
    assert entry.changes == {"role": ["user", "admin"]}
    # django-auditlog saw the field change too, attributed to the staff member
    [automatic] = [
        row
        for row in LogEntry.objects.get_for_object(business.dave)
        if row.action == LogEntry.Action.UPDATE and not row.additional_data
    ]
    assert automatic.actor == staff_user
    assert automatic.changes["is_staff"] == ["False", "True"]


def test_premium_is_not_a_role_staff_can_set(business, staff_client):
    response = staff_client.patch(
        f"/api/admin/users/{business.dave.pk}", {"role": "premium"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_staff_cannot_demote_or_deactivate_themselves(staff_client, staff_user):
    for change in ({"role": "user"}, {"is_active": False}):
        response = staff_client.patch(
            f"/api/admin/users/{staff_user.pk}", change, format="json"
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "cannot_change_self"
    staff_user.refresh_from_db()
    assert staff_user.is_staff
    assert staff_user.is_active


def test_boost_raises_todays_limit_and_is_audited(business, staff_client):
    before = staff_client.get(f"/api/admin/users/{business.dave.pk}").json()
    limit = before["quota"]["limit_requests"]
    response = staff_client.patch(
        f"/api/admin/users/{business.dave.pk}",
        {
            "boost": {
                "requests": 50,
                "until": (NOW + timedelta(days=2)).isoformat(),
                "reason": "launch week",
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["quota"]["limit_requests"] == limit + 50
    assert body["quota_override"]["boost_requests"] == 50
    assert body["quota_override"]["reason"] == "launch week"
    [entry] = _audit(business.dave, "user.quota_boost")
    assert entry.changes["boost_requests"] == [None, "50"]


def test_boost_in_the_past_is_400(business, staff_client):
    response = staff_client.patch(
        f"/api/admin/users/{business.dave.pk}",
        {"boost": {"requests": 5, "until": (NOW - timedelta(hours=1)).isoformat()}},
        format="json",
    )
    assert response.status_code == 400


def test_quota_override_set_then_removed(business, staff_client):
    url = f"/api/admin/users/{business.dave.pk}"
    set_response = staff_client.patch(
        url, {"quota_override": {"requests_per_day": 7}}, format="json"
    )
    assert set_response.json()["quota"]["limit_requests"] == 7
    removed = staff_client.patch(url, {"quota_override": None}, format="json")
    assert removed.json()["quota_override"] is None
    assert removed.json()["quota"]["limit_requests"] != 7
    assert len(_audit(business.dave, "user.quota_override")) == 2


def test_empty_patch_is_400(business, staff_client):
    response = staff_client.patch(
        f"/api/admin/users/{business.dave.pk}", {}, format="json"
    )
    assert response.status_code == 400
