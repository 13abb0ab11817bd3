"""Fixtures for the accounts tests: plans, JWT log-in (`eager_celery` comes from
the shared plugin, flowmatik/testing/plugin.py)."""

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD
from billing import selectors as billing_selectors


@pytest.fixture
def paid_users(monkeypatch, db) -> set[int]:
    """Ids in this set are on the Starter plan (has `api`, `images`); others Free.

    Billing's subscriptions decide a user's plan; these tests only need the answer
    of `billing.selectors.plan_get_for_user`, so that is the one seam replaced.
    """
    paid: set[int] = set()
    starter = billing_selectors.plan_get(slug="starter")
    free = billing_selectors.plan_get_free()

    def plan_for(*, user):
        return starter if user.pk in paid else free

    monkeypatch.setattr(billing_selectors, "plan_get_for_user", plan_for)
    return paid


def jwt_login(client: APIClient, email: str, password: str = DEFAULT_PASSWORD) -> dict:
    response = client.post(
        "/api/auth/login", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
