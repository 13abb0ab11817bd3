"""Staff edit overrides in the Django admin; the new limit applies at once."""

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from usage.daily_limits import limits_for_user_id
from usage.models import QuotaOverride

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_override_added_in_the_admin_applies_to_the_next_call(admin_client, user):
    assert limits_for_user_id(user_id=user.pk).requests_per_day == 100  # now cached

    response = admin_client.post(
        "/admin/usage/quotaoverride/add/",
        {
            "user": user.pk,
            "requests_per_day": 500,
            "tokens_per_day": "",
            "boost_requests": 0,
            "boost_tokens": 0,
            "reason": "Launch week",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    override = QuotaOverride.objects.get(user=user)
    assert override.updated_by.is_superuser
    limits = limits_for_user_id(user_id=user.pk)
    assert (limits.requests_per_day, limits.tokens_per_day) == (500, 50_000)


def test_usage_pages_open_for_staff(admin_client):
    for page in ("usagerecord", "usagedaily", "usagemonthly", "quotaalert"):
        assert admin_client.get(f"/admin/usage/{page}/").status_code == 200
