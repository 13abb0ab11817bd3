"""Fixtures shared by every app's tests: API clients and users."""

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def auth_client(user) -> APIClient:
    """An API client authenticated as `user` (force_authenticate: no JWT round trip)."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=staff_user)
    return client


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Each test starts with an empty cache (quotas, rate limits, identities)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
