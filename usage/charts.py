"""Server-drawn SVG charts of the usage page: stacked bars per day, one colour per
model. Pure geometry (no I/O); `templates/usage/_bar_chart.html` draws it."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

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
    rows: list[dict[str, Any]]  # the same data as a table: day + one value per model
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
) -> BarChart:
    """Bars per day stacked by model from `rows` (`day`, `model`, `value`...)."""
    per_model: dict[str, dict[date, Decimal]] = {}
    for row in rows:
        amount = Decimal(row[value] or 0)
        if amount:
            cells = per_model.setdefault(row["model"] or "—", {})
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
