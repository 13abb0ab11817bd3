"""Reading the shared metrics over a rolling window (5 minutes, 1 hour, 24 hours)."""

import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from flowmatik.errors import ServiceUnavailable
from flowmatik.metrics import REQUEST_BUCKETS_MS, metrics_flush, metrics_store


@dataclass(frozen=True)
class Window:
    name: str
    resolution: str  # "m" minute buckets, "h" hour buckets
    buckets: int
    seconds: int


WINDOWS = {
    "5m": Window("5m", "m", 5, 300),
    "1h": Window("1h", "m", 60, 3600),
    "24h": Window("24h", "h", 24, 86400),
}


def _keys(family: str, window: Window, now: float) -> list[str]:
    size = 60 if window.resolution == "m" else 3600
    current = int(now // size)
    return [
        f"{family}:{window.resolution}:{current - offset}"
        for offset in range(window.buckets)
    ]


def _read(store, keys: list[str]) -> list[dict[str, float]]:
    metrics_flush()  # this process's buffered figures first
    try:
        return store.read(keys)
    except Exception as exc:  # Redis down, metrics file unreadable
        raise ServiceUnavailable(
            "The metrics store is unavailable.", code="metrics_unavailable"
        ) from exc


def _sum(store, family: str, window: Window, now: float) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for row in _read(store, _keys(family, window, now)):
        for field, value in row.items():
            total[field] += value
    return total


def histogram_quantile(
    quantile: float, bounds: tuple, counts: list[float]
) -> float | None:
    """Prometheus' estimate: linear interpolation inside the bucket holding the rank.

    `counts[i]` is the (non-cumulative) count of bucket i; the last is +Inf, whose
    estimate is the highest finite bound.
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = quantile * total
    seen = 0.0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            lower = 0.0 if index == 0 else float(bounds[index - 1])
            upper = float(bounds[index])
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(bounds[-1])


def _requests(fields: dict[str, float], seconds: int) -> dict:
    routes: dict[str, dict] = defaultdict(
        lambda: {"requests": 0, "4xx": 0, "5xx": 0, "duration_ms_sum": 0.0}
    )
    buckets = [0.0] * (len(REQUEST_BUCKETS_MS) + 1)
    for field, value in fields.items():
        kind, *labels = field.split("|")
        if kind == "n":
            _method, route, status = labels
            entry = routes[route]
            entry["requests"] += int(value)
            if status.startswith("4"):
                entry["4xx"] += int(value)
            elif status.startswith("5"):
                entry["5xx"] += int(value)
        elif kind == "d":
            routes[labels[0]]["duration_ms_sum"] += value
        elif kind == "b":
            buckets[int(labels[1])] += value
    count = sum(entry["requests"] for entry in routes.values())
    duration = sum(entry["duration_ms_sum"] for entry in routes.values())
    errors_4xx = sum(entry["4xx"] for entry in routes.values())
    errors_5xx = sum(entry["5xx"] for entry in routes.values())
    p95 = histogram_quantile(0.95, REQUEST_BUCKETS_MS, buckets)
    endpoints = [
        {
            "route": route,
            "requests": entry["requests"],
            "errors_4xx": entry["4xx"],
            "errors_5xx": entry["5xx"],
            "avg_ms": round(entry["duration_ms_sum"] / entry["requests"], 2)
            if entry["requests"]
            else None,
        }
        for route, entry in routes.items()
    ]
    endpoints.sort(key=lambda row: (-row["requests"], row["route"]))
    return {
        "count": count,
        "per_second": round(count / seconds, 4),
        "avg_ms": round(duration / count, 2) if count else None,
        "p95_ms": round(p95, 2) if p95 is not None else None,
        "errors_4xx": errors_4xx,
        "errors_5xx": errors_5xx,
        "error_rate": round(errors_5xx / count, 4) if count else 0.0,
        "endpoints": endpoints,
    }


def _money(value: float) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.000001")))


def _ai(fields: dict[str, float]) -> dict:
    calls = 0
    tokens = 0
    cost: dict[str, float] = defaultdict(float)
    per_user: dict[tuple[int, str], float] = defaultdict(float)
    for field, value in fields.items():
        kind, *labels = field.split("|")
        if kind == "calls":
            calls += int(value)
        elif kind == "tok":
            tokens += int(value)
        elif kind == "cost":
            cost[labels[1]] += value
        elif kind == "ucost":
            per_user[(int(labels[0]), labels[1])] += value
    users = sorted(per_user.items(), key=lambda item: (-item[1], item[0]))
    return {
        "calls": calls,
        "tokens": tokens,
        "cost": {currency: _money(value) for currency, value in sorted(cost.items())},
        "cost_per_user": [
            {"user_id": user_id, "currency": currency, "cost": _money(value)}
            for (user_id, currency), value in users
        ],
    }


def _labelled(fields: dict[str, float], kind: str) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for field, value in fields.items():
        head, *labels = field.split("|")
        if head == kind and len(labels) == 2:
            result[labels[0]][labels[1]] = int(value)
    return dict(result)


def metrics_window(*, window: str, now: float | None = None) -> dict:
    """Every process's recorded requests, AI calls, refusals, webhooks and jobs
    over `window` (a key of `WINDOWS`)."""
    spec = WINDOWS[window]
    now = time.time() if now is None else now
    store = metrics_store()
    quota = _sum(store, "quota", spec, now)
    jobs = _sum(store, "job", spec, now)
    return {
        "window": spec.name,
        "seconds": spec.seconds,
        "requests": _requests(_sum(store, "req", spec, now), spec.seconds),
        "ai": _ai(_sum(store, "ai", spec, now)),
        "quota_refusals": {
            field.split("|", 1)[1]: int(value) for field, value in quota.items()
        },
        "webhooks": _labelled(_sum(store, "wh", spec, now), "n"),
        "jobs": _labelled(jobs, "n"),
    }


def metrics_totals(family: str) -> dict[str, float]:
    """The cumulative counters of one family (what Prometheus exposes)."""
    return _read(metrics_store(), [f"{family}:total"])[0]
