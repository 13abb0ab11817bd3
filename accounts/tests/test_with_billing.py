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
