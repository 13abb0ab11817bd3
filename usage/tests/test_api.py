"""Usage analytics API: sums match raw records, users see only their own usage."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from rest_framework.test import APIClient

from usage import selectors
from usage.models import UsageMonthly, UsageRecord
from usage.tests.conftest import admit, drain, make_event, settle
from usage.types import CallStatus

pytestmark = pytest.mark.django_db

CALLS = [
    # day offset, endpoint, model, status, prompt, completion, cost
    (0, "chat", "demo-small", CallStatus.SUCCESS, 10, 20, "0.000100"),
    (0, "chat", "demo-large", CallStatus.SUCCESS, 30, 40, "0.002500"),
    (0, "chat.stream", "demo-small", CallStatus.PARTIAL, 5, 7, "0.000050"),
    (0, "chat", "demo-small", CallStatus.ERROR, 0, 0, "0"),
    (1, "openai.chat", "demo-large", CallStatus.SUCCESS, 100, 200, "0.010000"),
    (1, "chat", "demo-small", CallStatus.SUCCESS, 1, 2, "0.000010"),
    (2, "ws.chat", "demo-small", CallStatus.SUCCESS, 3, 4, "0.000020"),
]
START = datetime(2026, 2, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(user, other_user, backend):
    """The calls above for `user` (across a month boundary) and one for `other_user`."""
    for offset, endpoint, model, status, prompt, completion, cost in CALLS:
        with time_machine.travel(START + timedelta(days=offset), tick=False):
            reservation = admit(
                user.pk, prompt=prompt, max_tokens=50, endpoint=endpoint
            )
            settle(
                reservation,
                make_event(
                    reservation,
                    status=status,
                    prompt=prompt,
                    completion=completion,
                    endpoint=endpoint,
                    model=model,
                    cost=Decimal(cost),
                ),
            )
    with time_machine.travel(START, tick=False):
        reservation = admit(other_user.pk, prompt=999, max_tokens=1)
        settle(reservation, prompt=999, completion=1, cost=Decimal("9"))
    drain()


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _raw_sums(user, key) -> dict:
    sums: dict = defaultdict(lambda: defaultdict(int))
    for record in UsageRecord.objects.filter(user=user):
        group = sums[key(record)]
        counted = record.status != "error"
        group["requests"] += int(counted)
        group["failed_requests"] += int(not counted)
        group["prompt_tokens"] += record.prompt_tokens if counted else 0
        group["completion_tokens"] += record.completion_tokens if counted else 0
        group["total_tokens"] += record.total_tokens if counted else 0
        group["cost"] += record.cost
    return sums


@pytest.mark.parametrize(
    ("group_by", "key"),
    [
        ("day", lambda r: r.created_at.date().isoformat()),
        ("model", lambda r: r.model),
        ("endpoint", lambda r: r.endpoint),
    ],
)
def test_grouped_usage_sums_equal_the_raw_records(user, history, group_by, key):
    response = _client(user).get(
        "/api/ai/usage",
        {"from": "2026-02-01", "to": "2026-03-31", "group_by": group_by},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["from"] == "2026-02-01"
    assert body["group_by"] == group_by
    raw = _raw_sums(user, key)
    assert {row["key"] for row in body["results"]} == set(raw)
    for row in body["results"]:
        expected = raw[row["key"]]
        for field in ("requests", "failed_requests", "prompt_tokens", "total_tokens"):
            assert row[field] == expected[field], (row, field)
        assert Decimal(row["cost"]) == expected["cost"]
        assert row["currency"] == "USD"
    assert body["totals"][0]["requests"] == 6
    assert body["totals"][0]["failed_requests"] == 1
    assert Decimal(body["totals"][0]["cost"]) == sum(
        r.cost for r in UsageRecord.objects.filter(user=user)
    )


def test_date_range_limits_what_is_summed(user, history):
    response = _client(user).get(
        "/api/ai/usage", {"from": "2026-02-28", "to": "2026-02-28", "group_by": "day"}
    )

    assert [row["key"] for row in response.json()["results"]] == ["2026-02-28"]
    assert response.json()["results"][0]["total_tokens"] == 303


def test_monthly_summary_per_model_splits_at_the_month_boundary(user, history):
    february = {
        row.model: row
        for row in selectors.usage_monthly_for_user(
            user_id=user.pk, month=datetime(2026, 2, 1).date()
        )
    }
    march = UsageMonthly.objects.get(user=user, month="2026-03-01")

    assert february["demo-small"].requests == 3
    assert february["demo-small"].failed_requests == 1
    assert february["demo-large"].total_tokens == 70 + 300
    assert (march.model, march.requests, march.total_tokens) == ("demo-small", 1, 7)


def test_ai_cost_per_user_ranks_users_for_the_admin_dashboard(
    user, other_user, history
):
    rows = selectors.ai_cost_by_user(
        date_from=datetime(2026, 2, 1).date(), date_to=datetime(2026, 3, 31).date()
    )

    assert [row["user_id"] for row in rows] == [other_user.pk, user.pk]
    assert rows[0]["cost"] == Decimal("9")
    assert rows[1]["cost"] == Decimal("0.012680")


def test_a_user_cannot_read_another_users_usage(user, other_user, history):
    client = _client(user)

    report = client.get("/api/ai/usage", {"user_id": other_user.pk})
    today = client.get("/api/ai/usage/today", {"user_id": other_user.pk})

    assert report.status_code == 404
    assert report.json()["error"]["code"] == "not_found"
    assert today.status_code == 404


def test_staff_can_read_any_users_usage(staff_user, user, history):
    response = _client(staff_user).get(
        "/api/ai/usage",
        {"user_id": user.pk, "from": "2026-02-01", "to": "2026-03-31"},
    )

    assert response.status_code == 200
    assert response.json()["user_id"] == user.pk
    assert response.json()["totals"][0]["requests"] == 6


def test_usage_requires_authentication(db):
    assert APIClient().get("/api/ai/usage").status_code == 401
    assert APIClient().get("/api/ai/usage/today").status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"group_by": "week"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "2024-01-01", "to": "2026-03-01"},
        {"from": "yesterday"},
    ],
)
def test_invalid_queries_are_400_with_field_errors(user, params):
    response = _client(user).get("/api/ai/usage", params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["details"]["fields"]


def test_today_shows_usage_against_the_limits_with_headers(user, backend):
    reservation = admit(user.pk, prompt=10, max_tokens=90)
    settle(reservation, prompt=10, completion=15, cost=Decimal("0.5"))
    drain()

    response = _client(user).get("/api/ai/usage/today")

    assert response.status_code == 200
    body = response.json()
    assert body["quota"]["limit_requests"] == 100
    assert body["quota"]["requests_used"] == 1
    assert body["quota"]["remaining_requests"] == 99
    assert body["quota"]["tokens_used"] == 25
    assert body["quota"]["remaining_tokens"] == 50_000 - 25
    assert body["totals"][0]["cost"] == "0.500000"
    assert response["X-RateLimit-Remaining-Requests"] == "99"
    assert response["X-RateLimit-Limit-Tokens"] == "50000"


def test_schema_describes_the_usage_endpoints(user):
    response = _client(user).get("/api/schema/", {"format": "json"})

    paths = response.json()["paths"]
    assert "/api/ai/usage" in paths
    assert "/api/ai/usage/today" in paths
    names = {p["name"] for p in paths["/api/ai/usage"]["get"]["parameters"]}
    assert {"from", "to", "group_by", "user_id"} <= names


def test_me_and_usage_today_show_the_same_quota_including_reservations(user, backend):
    admit(user.pk, prompt=10, max_tokens=90)
    client = _client(user)

    me = client.get("/api/auth/me").json()["quota"]
    today = client.get("/api/ai/usage/today").json()["quota"]

    assert me == today
    assert me["requests_used"] == 1
    assert me["remaining_tokens"] == 50_000 - 100


def test_quota_summary_for_tools_is_json_ready(user, backend):
    import json

    admit(user.pk, prompt=10, max_tokens=90)

    summary = selectors.quota_summary_for_user(user_id=user.pk)

    assert json.loads(json.dumps(summary)) == summary
    assert summary["requests_used"] == 1
    assert summary["remaining_tokens"] == 50_000 - 100
    assert summary["reset_at"].endswith("T00:00:00Z")


def test_a_to_date_too_early_for_the_default_range_is_400_on_to(user):
    response = _client(user).get("/api/ai/usage", {"to": "0001-01-05"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert "to" in response.json()["error"]["details"]["fields"]


def test_the_earliest_days_still_work_with_an_explicit_from(user):
    response = _client(user).get(
        "/api/ai/usage", {"from": "0001-01-01", "to": "0001-01-05"}
    )

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_the_widest_range_is_a_setting_read_per_request(user, settings):
    query = {"from": "2026-03-01", "to": "2026-03-06"}
    assert _client(user).get("/api/ai/usage", query).status_code == 200

    settings.USAGE_MAX_RANGE_DAYS = 5
    response = _client(user).get("/api/ai/usage", query)

    assert response.status_code == 400
    assert "from" in response.json()["error"]["details"]["fields"]


def test_usage_target_user_id_selector_lets_only_staff_name_another_user(
    user, other_user, staff_user
):
    from flowmatik.errors import NotFound

    target = selectors.usage_target_user_id
    assert target(user=user, requested_user_id=None) == user.pk
    assert target(user=user, requested_user_id=user.pk) == user.pk
    assert target(user=staff_user, requested_user_id=other_user.pk) == other_user.pk
    with pytest.raises(NotFound):
        target(user=user, requested_user_id=other_user.pk)
    with pytest.raises(NotFound):
        target(user=staff_user, requested_user_id=10**9)


def test_schema_declares_the_usage_errors(user):
    paths = _client(user).get("/api/schema/", {"format": "json"}).json()["paths"]

    today = paths["/api/ai/usage/today"]["get"]["responses"]
    assert {"200", "400", "401", "404"} <= set(today)
    schema = today["400"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/Error")
