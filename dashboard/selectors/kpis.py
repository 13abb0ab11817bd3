"""The staff dashboard's KPIs, assembled from each app's own selectors."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from ai import selectors as ai_selectors
from billing import selectors as billing_selectors
from flowmatik.metrics.windows import metrics_window
from usage import selectors as usage_selectors
from webhooks_app import selectors as webhook_selectors

SERIES_DAYS = 30
TOP_USERS = 10


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _money(totals: dict[str, Decimal], places: str = "0.01") -> dict[str, str]:
    """Per-currency amounts as strings with a fixed number of decimals."""
    return {
        currency: str(Decimal(amount).quantize(Decimal(places)))
        for currency, amount in totals.items()
    }


def _user_kpis(*, now: datetime, today: date) -> dict[str, int]:
    start = _day_start(today)
    users = User.objects.all()
    active_today = (
        users.filter(Q(last_login__gte=start) | Q(usage_days__day=today))
        .distinct()
        .count()
    )
    return {
        "total": users.count(),
        "active": users.filter(is_active=True).count(),
        "new_today": users.filter(date_joined__gte=start).count(),
        "new_7d": users.filter(date_joined__gte=now - timedelta(days=7)).count(),
        "new_30d": users.filter(date_joined__gte=now - timedelta(days=30)).count(),
        "active_today": active_today,
    }


def _revenue_kpis(*, today: date) -> dict[str, Any]:
    day_start = _day_start(today)
    month_start = _day_start(today.replace(day=1))
    by_provider = [
        {
            "provider": row["provider"],
            "currency": row["currency"],
            "amount": str(row["total"]),
            "payments": row["payments"],
        }
        for row in billing_selectors.revenue_breakdown(since=month_start)
    ]
    return {
        "mrr": _money(billing_selectors.mrr()),
        "today": _money(billing_selectors.revenue_total(since=day_start)),
        "this_month": _money(billing_selectors.revenue_total(since=month_start)),
        "this_month_by_provider": by_provider,
    }


def _ai_kpis(*, today: date) -> dict[str, Any]:
    first = today - timedelta(days=SERIES_DAYS - 1)
    rows = usage_selectors.usage_platform_daily(date_from=first, date_to=today)
    series: dict[date, dict[str, Any]] = {
        first + timedelta(days=offset): {
            "day": (first + timedelta(days=offset)).isoformat(),
            "requests": 0,
            "failed_requests": 0,
            "total_tokens": 0,
            "cost": {},
        }
        for offset in range(SERIES_DAYS)
    }
    for row in rows:
        entry = series[row["day"]]
        entry["requests"] += row["requests"]
        entry["failed_requests"] += row["failed_requests"]
        entry["total_tokens"] += row["total_tokens"]
        entry["cost"][row["currency"]] = str(row["cost"])
    today_entry = series[today]
    calls = today_entry["requests"] + today_entry["failed_requests"]
    top = usage_selectors.ai_cost_by_user(
        date_from=today.replace(day=1), date_to=today, limit=TOP_USERS
    )
    return {
        "today": {
            **today_entry,
            "error_rate": round(today_entry["failed_requests"] / calls, 4)
            if calls
            else 0.0,
        },
        "series_30d": list(series.values()),
        "top_users_this_month": [
            {
                "user_id": row["user_id"],
                "email": row["user__email"],
                "requests": row["requests"],
                "total_tokens": row["total_tokens"],
                "cost": str(row["cost"]),
                "currency": row["currency"],
            }
            for row in top
        ],
    }


def dashboard_kpis(*, now: datetime | None = None) -> dict[str, Any]:
    """Users, subscriptions, revenue/MRR, AI usage, errors, webhooks and jobs."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    requests_24h = metrics_window(window="24h")["requests"]
    return {
        "generated_at": now,
        "users": _user_kpis(now=now, today=today),
        "subscriptions": billing_selectors.subscription_counts(),
        "revenue": _revenue_kpis(today=today),
        "ai": _ai_kpis(today=today),
        "http_24h": {
            "requests": requests_24h["count"],
            "errors_5xx": requests_24h["errors_5xx"],
            "error_rate": requests_24h["error_rate"],
        },
        "webhook_failures_24h": webhook_selectors.webhook_failure_count(
            since=now - timedelta(hours=24)
        ),
        "jobs_by_status": ai_selectors.content_job_status_counts(),
    }


def admin_index_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """The Django admin index's headline: users, subscriptions, MRR, revenue and AI
    usage today (a subset of `dashboard_kpis`, no metrics store read)."""
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    day = usage_selectors.usage_platform_daily(date_from=today, date_to=today)
    cost: dict[str, Decimal] = {}
    for row in day:
        cost[row["currency"]] = cost.get(row["currency"], Decimal("0")) + row["cost"]
    subscriptions = billing_selectors.subscription_counts()
    return {
        "users": _user_kpis(now=now, today=today),
        "live_subscriptions": sum(subscriptions["by_plan"].values()),
        "subscriptions_by_plan": subscriptions["by_plan"],
        "revenue": _revenue_kpis(today=today),
        "ai_today": {
            "requests": sum(row["requests"] for row in day),
            "failed_requests": sum(row["failed_requests"] for row in day),
            "total_tokens": sum(row["total_tokens"] for row in day),
            "cost": _money(cost, places="0.000001"),
        },
    }
