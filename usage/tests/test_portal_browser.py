"""The usage page in headless Chromium: the 30-day charts are drawn as SVG bars."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.browser import screenshot
from usage.daily_limits import utc_today
from usage.models import UsageDaily

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("catalogue_tx")]


def test_the_usage_charts_render_svg_bars_with_the_data(
    portal_server, browser_page, login_in_browser
):
    user = UserFactory()
    for days_ago, model, requests in (
        (0, "flowmatik-demo", 5),
        (3, "flowmatik-demo-pro", 2),
    ):
        UsageDaily.objects.create(
            user=user,
            day=utc_today() - timedelta(days=days_ago),
            endpoint="api.chat",
            model=model,
            requests=requests,
            total_tokens=requests * 100,
            cost=Decimal("0.001") * requests,
        )
    page = browser_page
    login_in_browser(page, user, portal_server)
    page.goto(portal_server.url("/app/usage/"))

    chart = page.locator('[data-chart="requests"] svg.chart-svg')
    bars = chart.locator("rect.chart-bar")
    assert bars.count() == 2
    tall = bars.nth(1).bounding_box()
    short = bars.nth(0).bounding_box()
    assert tall
    assert short
    assert tall["height"] > short["height"] > 0
    assert "flowmatik-demo-pro" in page.locator('[data-chart="requests"]').inner_text()
    assert page.locator('[data-chart="tokens"] rect.chart-bar').count() == 2
    assert page.locator('[data-chart="cost-usd"] rect.chart-bar').count() == 2
    screenshot(page, "portal-usage")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"
    )
    assert chart.bounding_box()["width"] <= 390
    assert page.errors == []
