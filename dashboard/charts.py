"""Charts for the portal, drawn server-side as SVG geometry (no chart script).

`column_chart` (a series over time) and `bar_chart` (values per category) turn
numbers into rectangles in a fixed viewBox; `templates/dashboard/_chart.html` draws
them with a data table beside for screen readers. Pure functions of their input.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Number = int | float | Decimal

# viewBox sizes; the SVG scales to its container's width
COLUMN_WIDTH, COLUMN_HEIGHT = 600, 160
BAR_WIDTH, BAR_ROW = 600, 28
LABEL_SPACE = 150  # horizontal bars: room for the category names on the left


@dataclass(frozen=True)
class Mark:
    """One rectangle of a chart, with what it stands for."""

    label: str
    value: float
    display: str
    x: float
    y: float
    width: float
    height: float
    text_x: float = 0
    text_y: float = 0


@dataclass(frozen=True)
class Chart:
    kind: str  # "column" | "bar"
    title: str | Promise  # a lazy translation, most often
    width: int
    height: int
    marks: tuple[Mark, ...]
    max_display: str

    @property
    def empty(self) -> bool:
        return not any(mark.value for mark in self.marks)

    @property
    def first_label(self) -> str:
        return self.marks[0].label if self.marks else ""

    @property
    def last_label(self) -> str:
        return self.marks[-1].label if self.marks else ""


def _plain(value: Number) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{float(value):,.2f}"


def column_chart(
    *,
    title: str | Promise,
    points: Sequence[tuple[str, Number]],
    display: Callable[[Number], str] = _plain,
) -> Chart:
    """Vertical columns, one per point, left to right (e.g. one per day)."""
    values = [float(value) for _, value in points]
    top = max(values, default=0.0) or 1.0
    slot = COLUMN_WIDTH / max(len(points), 1)
    gap = min(2.0, slot * 0.2)
    marks = []
    for index, ((label, raw), value) in enumerate(zip(points, values, strict=True)):
        height = round(value / top * (COLUMN_HEIGHT - 4), 2)
        marks.append(
            Mark(
                label=label,
                value=value,
                display=display(raw),
                x=round(index * slot + gap / 2, 2),
                y=round(COLUMN_HEIGHT - height, 2),
                width=round(slot - gap, 2),
                height=height,
            )
        )
    return Chart(
        kind="column",
        title=title,
        width=COLUMN_WIDTH,
        height=COLUMN_HEIGHT,
        marks=tuple(marks),
        max_display=display(max((raw for _, raw in points), default=0)),
    )


def bar_chart(
    *,
    title: str | Promise,
    points: Sequence[tuple[str, Number]],
    display: Callable[[Number], str] = _plain,
) -> Chart:
    """Horizontal bars, one row per category, labelled on the left."""
    values = [float(value) for _, value in points]
    top = max(values, default=0.0) or 1.0
    room = BAR_WIDTH - LABEL_SPACE - 60  # and the value's text on the right
    marks = []
    for index, ((label, raw), value) in enumerate(zip(points, values, strict=True)):
        width = round(value / top * room, 2)
        y = index * BAR_ROW + 4
        marks.append(
            Mark(
                label=label,
                value=value,
                display=display(raw),
                x=LABEL_SPACE,
                y=y,
                width=width,
                height=BAR_ROW - 8,
                text_x=LABEL_SPACE + width + 6,
                text_y=y + BAR_ROW / 2,
            )
        )
    return Chart(
        kind="bar",
        title=title,
        width=BAR_WIDTH,
        height=max(len(marks), 1) * BAR_ROW,
        marks=tuple(marks),
        max_display=display(max((raw for _, raw in points), default=0)),
    )


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
