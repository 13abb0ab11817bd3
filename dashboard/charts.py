"""The staff dashboard's charts: which numbers are drawn, under which titles.

The geometry is `flowmatik.svg_charts`' (columns over time, bars per category);
`templates/dashboard/_chart.html` draws it with a data table beside for screen
readers.
"""

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from flowmatik.svg_charts import Chart, Number, bar_chart, column_chart

TOP_ENDPOINTS = 8


def _money(value: Number) -> str:
    return f"{Decimal(value):,.2f}"


def dashboard_charts(
    *, kpis: dict[str, Any], metrics: dict[str, Any] | None
) -> list[Chart]:
    """The staff dashboard's charts from `dashboard_kpis()` (and `admin_metrics()`
    when the metrics store answered): the same numbers `/api/admin/*` returns."""
    series = kpis["ai"]["series_30d"]
    days = [(row["day"][5:], row) for row in series]  # MM-DD
    charts = [
        column_chart(
            title=_("AI requests per day (30 days)"),
            points=[(day, row["requests"]) for day, row in days],
        ),
        column_chart(
            title=_("Tokens per day (30 days)"),
            points=[(day, row["total_tokens"]) for day, row in days],
        ),
    ]
    currencies = sorted({currency for row in series for currency in row["cost"]})
    for currency in currencies:
        charts.append(
            column_chart(
                title=_("AI cost per day, %(currency)s (30 days)")
                % {"currency": currency},
                points=[
                    (day, Decimal(row["cost"].get(currency, "0"))) for day, row in days
                ],
                display=_money,
            )
        )
    subscriptions = kpis["subscriptions"]
    charts += [
        bar_chart(
            title=_("Live subscriptions by plan"),
            points=sorted(subscriptions["by_plan"].items()),
        ),
        bar_chart(
            title=_("Live subscriptions by provider"),
            points=sorted(subscriptions["by_provider"].items()),
        ),
        bar_chart(
            title=_("Content jobs by status"),
            points=sorted(kpis["jobs_by_status"].items()),
        ),
    ]
    if metrics is not None:
        endpoints = metrics["requests"]["endpoints"][:TOP_ENDPOINTS]
        charts.append(
            bar_chart(
                title=_("Busiest endpoints (%(window)s)")
                % {"window": metrics["window"]},
                points=[(row["route"] or "/", row["requests"]) for row in endpoints],
            )
        )
    return charts
