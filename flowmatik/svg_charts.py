"""Charts drawn on the server as SVG geometry (no chart script), for the portal.

Pure functions from numbers to shapes in a fixed viewBox (the SVG scales to its
container's width); a template draws them, with the numbers as a table too:
- `column_chart` (a series over time) and `bar_chart` (values per category) give a
  `Chart` of `Mark`s (`templates/dashboard/_chart.html`, the staff dashboard);
- `stacked_bar_chart` gives a `BarChart`: bars per day stacked by series, one
  colour each, with axes and a legend (`templates/usage/_bar_chart.html`, the
  usage page).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise

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


# Where a mark stands, from its index and its share of the longest (0 to 1):
# x, y, width, height (and text_x, text_y where its value is written beside it)
Placement = Callable[[int, float], tuple[float, ...]]


def _chart(
    *,
    kind: str,
    title: str | Promise,
    points: Sequence[tuple[str, Number]],
    display: Callable[[Number], str],
    width: int,
    height: int,
    place: Placement,
) -> Chart:
    values = [float(value) for _, value in points]
    top = max(values, default=0.0) or 1.0
    marks = tuple(
        Mark(label, value, display(raw), *place(index, value / top))
        for index, ((label, raw), value) in enumerate(zip(points, values, strict=True))
    )
    return Chart(
        kind=kind,
        title=title,
        width=width,
        height=height,
        marks=marks,
        max_display=display(max((raw for _, raw in points), default=0)),
    )


def column_chart(
    *,
    title: str | Promise,
    points: Sequence[tuple[str, Number]],
    display: Callable[[Number], str] = _plain,
) -> Chart:
    """Vertical columns, one per point, left to right (e.g. one per day)."""
    slot = COLUMN_WIDTH / max(len(points), 1)
    gap = min(2.0, slot * 0.2)

    def place(index: int, share: float) -> tuple[float, ...]:
        height = round(share * (COLUMN_HEIGHT - 4), 2)
        x = round(index * slot + gap / 2, 2)
        return x, round(COLUMN_HEIGHT - height, 2), round(slot - gap, 2), height

    return _chart(
        kind="column",
        title=title,
        points=points,
        display=display,
        width=COLUMN_WIDTH,
        height=COLUMN_HEIGHT,
        place=place,
    )


def bar_chart(
    *,
    title: str | Promise,
    points: Sequence[tuple[str, Number]],
    display: Callable[[Number], str] = _plain,
) -> Chart:
    """Horizontal bars, one row per category, labelled on the left."""
    room = BAR_WIDTH - LABEL_SPACE - 60  # and the value's text on the right

    def place(index: int, share: float) -> tuple[float, ...]:
        width = round(share * room, 2)
        y = index * BAR_ROW + 4
        text_x = LABEL_SPACE + width + 6
        return LABEL_SPACE, y, width, BAR_ROW - 8, text_x, y + BAR_ROW / 2

    return _chart(
        kind="bar",
        title=title,
        points=points,
        display=display,
        width=BAR_WIDTH,
        height=max(len(points), 1) * BAR_ROW,
        place=place,
    )


# stacked bars: the viewBox and the plot area inside it
WIDTH = 560
HEIGHT = 240
PLOT_LEFT = 70
PLOT_RIGHT = 12
PLOT_TOP = 12
PLOT_BOTTOM = 36
TICKS = 4
# Distinguishable on white and for the common colour-vision deficiencies
# (Okabe–Ito), darkest first.
PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#7a5c00",
    "#000000",
)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str  # "2026-12-01 · flowmatik-demo: 12"


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    total: str


@dataclass(frozen=True)
class BarChart:
    """Everything the template needs, in SVG user units."""

    key: str
    width: int
    height: int
    plot_left: int
    plot_right: float
    plot_bottom: float
    bars: list[Bar]
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    rows: list[dict[str, Any]]  # the same data as a table: day + one value per series
    empty: bool


def chart_days(*, today: date, days: int) -> list[date]:
    """The `days` days ending with `today`, oldest first."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def _text(value: int | Decimal, decimals: int) -> str:
    if decimals:
        return f"{Decimal(value):.{decimals}f}"
    return f"{int(value):,}"


def _nice_step(value: float, *, whole: bool) -> float:
    """The smallest 1/2/2.5/5 × 10^n at or above `value` (an axis that reads well);
    `whole` numbers (counts) get whole steps of at least 1."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= value and not (whole and step != int(step)):
            return step
    return 10 * magnitude


def stacked_bar_chart(
    *,
    key: str,
    days: list[date],
    rows: list[dict[str, Any]],
    value: str,
    decimals: int = 0,
    stack_by: str = "model",
) -> BarChart:
    """Bars per day stacked by `row[stack_by]` from `rows` (`day`, `stack_by`,
    `value`...), the largest series at the bottom."""
    per_model: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        amount = Decimal(row[value] or 0)
        if amount:
            cells = per_model.setdefault(row[stack_by] or "—", {})
            cells[row["day"]] = cells.get(row["day"], Decimal(0)) + amount
    models = sorted(per_model, key=lambda m: (-sum(per_model[m].values()), m))
    colors = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    day_totals = [
        sum((per_model[m].get(d, Decimal(0)) for m in models), Decimal(0)) for d in days
    ]
    step = _nice_step(float(max(day_totals, default=0)) / TICKS, whole=not decimals)
    top = step * TICKS
    plot_right = WIDTH - PLOT_RIGHT
    plot_bottom = HEIGHT - PLOT_BOTTOM
    plot_height = plot_bottom - PLOT_TOP
    slot = (plot_right - PLOT_LEFT) / max(len(days), 1)
    bar_width = max(slot * 0.7, 1.0)
    bars: list[Bar] = []
    for index, day in enumerate(days):
        y = float(plot_bottom)
        x = PLOT_LEFT + index * slot + (slot - bar_width) / 2
        for model in models:
            amount = per_model[model].get(day, Decimal(0))
            if not amount:
                continue
            height = float(amount) / top * plot_height
            y -= height
            bars.append(
                Bar(
                    x=round(x, 2),
                    y=round(y, 2),
                    width=round(bar_width, 2),
                    height=round(max(height, 0.5), 2),
                    color=colors[model],
                    label=f"{day.isoformat()} · {model}: {_text(amount, decimals)}",
                )
            )
    y_ticks = [
        Tick(
            position=round(plot_bottom - plot_height * index / TICKS, 2),
            text=_text(Decimal(str(step * index)), decimals),
        )
        for index in range(TICKS + 1)
    ]
    every = max(1, len(days) // 6)
    x_ticks = [
        Tick(
            position=round(PLOT_LEFT + i * slot + slot / 2, 2), text=d.strftime("%d/%m")
        )
        for i, d in enumerate(days)
        if (len(days) - 1 - i) % every == 0
    ]
    table = [
        {
            "day": day,
            "values": [
                _text(per_model[m].get(day, Decimal(0)), decimals) for m in models
            ],
        }
        for day in days
        if any(per_model[m].get(day) for m in models)
    ]
    return BarChart(
        key=key,
        width=WIDTH,
        height=HEIGHT,
        plot_left=PLOT_LEFT,
        plot_right=plot_right,
        plot_bottom=plot_bottom,
        bars=bars,
        series=[
            Series(
                name=m,
                color=colors[m],
                total=_text(sum(per_model[m].values(), Decimal(0)), decimals),
            )
            for m in models
        ],
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        rows=table,
        empty=not bars,
    )
