"""The usage page of the portal: today's use against the limits, and 30 days of
requests, tokens and cost per model drawn as SVG bar charts. Thin: the numbers are
the usage selectors' (the same as `/api/ai/usage/today` and `/api/ai/usage`)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from flowmatik import svg_charts
from usage import selectors
from usage.daily_limits import utc_today

CHART_DAYS = 30


def _meter(used: int, limit: int | None) -> dict[str, object]:
    """A limit as the page shows it (percent used; None limit = unlimited)."""
    if limit is None:
        return {"used": used, "limit": None, "percent": 0}
    percent = 100 if limit <= 0 else min(100, round(used * 100 / limit))
    return {"used": used, "limit": limit, "percent": percent}


@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    user_id = int(request.user.pk or 0)  # behind login_required
    today = utc_today()
    days = svg_charts.chart_days(today=today, days=CHART_DAYS)
    quota = selectors.quota_state_for_user(user_id=user_id)
    rows = selectors.usage_daily_by_model(
        user_id=user_id, date_from=days[0], date_to=today
    )
    currencies = sorted({row["currency"] for row in rows if row["cost"]}) or ["USD"]
    cost_charts = [
        (
            _("Cost (%(currency)s)") % {"currency": currency},
            svg_charts.stacked_bar_chart(
                key=f"cost-{currency.lower()}",
                days=days,
                rows=[r for r in rows if r["currency"] == currency],
                value="cost",
                decimals=4,
            ),
        )
        for currency in currencies
    ]
    context = {
        "quota": quota,
        "requests_meter": _meter(quota.requests_used, quota.limit_requests),
        "tokens_meter": _meter(
            quota.tokens_used + quota.tokens_reserved, quota.limit_tokens
        ),
        "totals": selectors.usage_totals(
            user_id=user_id, date_from=today, date_to=today
        ),
        "chart_days": CHART_DAYS,
        "charts": [
            (
                _("Requests"),
                svg_charts.stacked_bar_chart(
                    key="requests", days=days, rows=rows, value="requests"
                ),
            ),
            (
                _("Tokens"),
                svg_charts.stacked_bar_chart(
                    key="tokens", days=days, rows=rows, value="total_tokens"
                ),
            ),
            *cost_charts,
        ],
    }
    return render(request, "usage/usage.html", context)
