"""The usage page: today's use against the plan's limits, and 30 days of requests,
tokens and cost per model drawn as SVG bars from the daily rollups."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.tests.factories import UserFactory
from billing.selectors import plan_info_for_user_id
from usage.daily_limits import utc_today
from usage.models import UsageDaily
from usage.tests.conftest import admit


@pytest.fixture
def owner(db):
    from flowmatik.testing.plugin import seed_rows

    seed_rows()
    return UserFactory()


def _day(user, days_ago: int, model: str, requests: int, tokens: int, cost: str):
    UsageDaily.objects.create(
        user=user,
        day=utc_today() - timedelta(days=days_ago),
        endpoint="api.chat",
        model=model,
        requests=requests,
        total_tokens=tokens,
        cost=Decimal(cost),
    )


def _chart(body: str, key: str) -> str:
    match = re.search(rf'data-chart="{key}".*?</figure>', body, re.S)
    assert match, f"no {key} chart"
    return match.group(0)


def test_the_page_needs_a_log_in(client):
    response = client.get("/app/usage/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_todays_use_is_shown_against_the_plans_limits(client, owner):
    admit(owner.pk)
    client.force_login(owner)
    body = client.get("/app/usage/").content.decode()
    limit = plan_info_for_user_id(user_id=owner.pk).requests_per_day
    assert f"1 of {limit} requests used" in body
    assert '<progress id="meter-requests"' in body


def test_thirty_days_are_charted_per_model_as_svg(client, owner):
    _day(owner, 0, "flowmatik-demo", 4, 400, "0.004")
    _day(owner, 0, "flowmatik-demo-pro", 2, 1000, "0.020")
    _day(owner, 10, "flowmatik-demo", 6, 600, "0.006")
    _day(owner, 29, "flowmatik-demo", 1, 100, "0.001")
    _day(owner, 30, "flowmatik-demo", 99, 9900, "0.099")  # 31 days ago: left out
    _day(UserFactory(), 0, "someone-elses-model", 7, 700, "0.007")
    client.force_login(owner)
    body = client.get("/app/usage/").content.decode()

    requests = _chart(body, "requests")
    assert "<svg" in requests
    assert len(re.findall(r'<rect class="chart-bar"', requests)) == 4
    assert "flowmatik-demo-pro: 2" in requests
    assert "flowmatik-demo: 6" in requests
    assert "someone-elses-model" not in body
    assert ": 99<" not in requests
    heights = {
        label: float(height)
        for height, label in re.findall(
            r'height="([\d.]+)" fill="#\w+"><title>[\d-]+ · ([^<]+)</title>', requests
        )
    }
    # bars scale with their values: 6 requests stand three times as tall as 2
    assert heights["flowmatik-demo: 6"] == pytest.approx(
        3 * heights["flowmatik-demo-pro: 2"], rel=0.01
    )
    tokens = _chart(body, "tokens")
    assert "flowmatik-demo-pro: 1,000" in tokens
    cost = _chart(body, "cost-usd")
    assert "flowmatik-demo-pro: 0.0200" in cost
    assert "Show the data as a table" in requests


def test_no_usage_yet_says_so(client, owner):
    client.force_login(owner)
    body = client.get("/app/usage/").content.decode()
    assert "No usage in these days yet." in body
    assert '<rect class="chart-bar"' not in body
