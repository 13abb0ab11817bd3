"""Roles and the API-key gate follow billing's real subscription rows (no mocks)."""

import pytest
from rest_framework.test import APIClient

from accounts.identity import identity_from_api_key
from accounts.selectors import user_role
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_paid_subscription_makes_premium_and_unlocks_api_keys():
    from billing.tests.factories import subscription_row

    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    assert user_role(user=user) == "user"
    refused = client.post("/api/auth/api-keys", {"name": "k"}, format="json")
    assert refused.status_code == 403

    subscription_row(user=user, plan="pro")
    me = client.get("/api/auth/me").json()
    assert (me["role"], me["plan"]["slug"]) == ("premium", "pro")
    created = client.post("/api/auth/api-keys", {"name": "k"}, format="json")
    assert created.status_code == 201
    assert identity_from_api_key(created.json()["key"]).user_id == user.pk


def _role_cells(content: bytes) -> dict[str, str]:
    """E-mail -> role column of the admin user list page."""
    import re

    rows = re.findall(rb"<tr>(.*?)</tr>", content, flags=re.S)
    roles = {}
    for row in rows:
        email = re.search(rb"field-email[^>]*>(?:<a [^>]*>)?([^<]+)<", row)
        role = re.search(rb"field-role[^>]*>([^<]*)<", row)
        if email and role:
            roles[email.group(1).decode()] = role.group(1).decode()
    return roles


def test_admin_user_list_roles_follow_billing_in_one_query_for_the_page():
    from datetime import UTC, datetime, timedelta

    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from billing.selectors import user_is_premium
    from billing.tests.factories import subscription_row

    staff = UserFactory(is_staff=True, is_superuser=True, email="boss@example.com")
    client = Client()
    client.force_login(staff)
    past = datetime.now(tz=UTC) - timedelta(days=1)
    cases = {
        "paid@example.com": {"plan": "pro"},
        "trial@example.com": {"plan": "starter", "status": "trialing"},
        "dunning@example.com": {"plan": "starter", "status": "past_due"},
        "paused@example.com": {"plan": "starter", "status": "paused"},
        "lapsed@example.com": {
            "plan": "pro",
            "cancel_at_period_end": True,
            "period_end": past,
        },
        "ended@example.com": {"plan": "pro", "status": "canceled"},
        "free@example.com": None,
    }
    users = {}
    for email, row in cases.items():
        users[email] = UserFactory(email=email)
        if row is not None:
            subscription_row(user=users[email], **row)
    expected = {
        email: "premium" if user_is_premium(user=user) else "user"
        for email, user in users.items()
    }
    assert expected["paid@example.com"] == "premium"
    assert expected["lapsed@example.com"] == "user"

    cache.clear()
    with CaptureQueriesContext(connection) as few:
        page = client.get("/admin/accounts/user/")
    assert page.status_code == 200
    roles = _role_cells(page.content)
    assert roles == {**expected, "boss@example.com": "admin"}

    for n in range(12):  # more rows must not mean more queries (cold cache)
        UserFactory(email=f"extra{n}@example.com")
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        page = client.get("/admin/accounts/user/")
    assert len(_role_cells(page.content)) == len(roles) + 12
    assert len(many) == len(few)

    premium = client.get("/admin/accounts/user/", {"role": "premium"})
    assert set(_role_cells(premium.content)) == {
        email for email, role in expected.items() if role == "premium"
    }
