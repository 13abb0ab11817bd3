"""`GET /api/admin/dashboard`: every KPI against the data set the test builds."""

from datetime import timedelta

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from ai.models import ContentJob, JobStatus, JobType
from billing.tests.factories import subscription_row
from dashboard.tests.admin_data import NOW, build_business
from flowmatik.metrics import metrics_record_request
from webhooks_app.models import EventStatus, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def business(frozen, isolated_metrics):
    data = build_business()
    for index, (status, age) in enumerate(
        [
            (EventStatus.FAILED, timedelta(hours=2)),
            (EventStatus.FAILED, timedelta(hours=30)),  # outside 24 h
            (EventStatus.PROCESSED, timedelta(hours=1)),
        ]
    ):
        WebhookEvent.objects.create(
            provider="stripe",
            event_id=f"evt_{index}",
            event_type="invoice.paid",
            payload="{}",
            body_sha256="0" * 64,
            received_at=NOW - age,
            status=status,
            last_attempt_at=NOW - age,
        )
    for status in (JobStatus.QUEUED, JobStatus.QUEUED, JobStatus.SUCCEEDED):
        ContentJob.objects.create(
            user=data.alice, type=JobType.BLOG_POST, status=status, prompt="x"
        )
    for status in (200,) * 9 + (502,):
        metrics_record_request(
            method="GET", route="api/ai/models", status=status, duration_ms=20
        )
    return data


def test_anonymous_401_normal_and_premium_403(user):
    assert APIClient().get("/api/admin/dashboard").status_code == 401
    premium = UserFactory()
    subscription_row(user=premium, plan="business")
    for who in (user, premium):
        client = APIClient()
        client.force_authenticate(user=who)
        response = client.get("/api/admin/dashboard")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "admin_required"


def test_kpis_match_the_data_set(business, staff_client):
    response = staff_client.get("/api/admin/dashboard")
    assert response.status_code == 200, response.content
    body = response.json()

    # alice, bob, carol (inactive, joined today), dave and the staff member (today)
    assert body["users"] == {
        "total": 5,
        "active": 4,
        "new_today": 2,
        "new_7d": 3,
        "new_30d": 4,
        "active_today": 2,
    }
    assert body["subscriptions"] == {
        "by_plan": {"pro": 1, "starter": 1},
        "by_provider": {"lemonsqueezy": 1, "stripe": 1},
    }
    revenue = body["revenue"]
    assert revenue["mrr"] == {"USD": "58.00"}
    assert revenue["today"] == {"USD": "58.00"}
    assert revenue["this_month"] == {"EUR": "10.00", "USD": "58.00"}
    assert revenue["this_month_by_provider"] == [
        {
            "provider": "lemonsqueezy",
            "currency": "USD",
            "amount": "19.00",
            "payments": 1,
        },
        {"provider": "stripe", "currency": "EUR", "amount": "10.00", "payments": 1},
        {"provider": "stripe", "currency": "USD", "amount": "39.00", "payments": 1},
    ]

    ai = body["ai"]
    assert ai["today"] == {
        "day": "2026-11-20",
        "requests": 4,
        "failed_requests": 1,
        "total_tokens": 350,
        "cost": {"USD": "0.950000"},
        "error_rate": 0.2,
    }
    assert len(ai["series_30d"]) == 30
    assert ai["series_30d"][0]["day"] == "2026-10-22"
    yesterday = ai["series_30d"][-2]
    assert yesterday == {
        "day": "2026-11-19",
        "requests": 2,
        "failed_requests": 0,
        "total_tokens": 2000,
        "cost": {"USD": "2.000000"},
    }
    # alice's 5.00 on Oct 21 is outside both the series and the month
    assert sum(day["requests"] for day in ai["series_30d"]) == 6
    assert [(row["email"], row["cost"]) for row in ai["top_users_this_month"]] == [
        ("alice@example.com", "2.900000"),
        ("bob@example.com", "0.050000"),
    ]

    assert body["http_24h"] == {"requests": 10, "errors_5xx": 1, "error_rate": 0.1}
    assert body["webhook_failures_24h"] == 1
    assert body["jobs_by_status"] == {
        "queued": 2,
        "running": 0,
        "succeeded": 1,
        "failed": 0,
        "canceled": 0,
    }
