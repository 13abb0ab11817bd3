"""Webhook reads: the staff statistics."""

import math
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from webhooks_app.models import EventStatus, Provider, WebhookEvent

# Percentiles are computed over at most this many most recently processed events.
PERCENTILE_WINDOW = 10_000
PERCENTILES = (50, 90, 95, 99)


def _percentile(sorted_values: list[int], pct: int) -> int | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def webhook_rejections() -> dict[str, dict[str, int]]:
    from webhooks_app.services import REJECTION_REASONS, _rejection_key

    keys = {
        (provider.value, reason): _rejection_key(provider.value, reason)
        for provider in Provider
        for reason in REJECTION_REASONS
    }
    values = cache.get_many(list(keys.values()))
    return {
        provider.value: {
            reason: int(values.get(keys[(provider.value, reason)]) or 0)
            for reason in REJECTION_REASONS
        }
        for provider in Provider
    }


def webhook_stats(*, now: datetime | None = None) -> dict[str, Any]:
    """Counts by provider / type / status, processing-time percentiles, last
    delivery per provider, failures in the last 24 h, rejected deliveries."""
    now = now or timezone.now()
    groups = list(
        WebhookEvent.objects.values("provider", "event_type", "status")
        .annotate(count=Count("id"))
        .order_by("provider", "event_type", "status")
    )
    by_status = {status.value: 0 for status in EventStatus}
    by_provider: dict[str, dict[str, Any]] = {
        provider.value: {
            "total": 0,
            "by_status": {status.value: 0 for status in EventStatus},
            "by_type": {},
            "last_received_at": None,
        }
        for provider in Provider
    }
    for group in groups:
        entry = by_provider[group["provider"]]
        entry["total"] += group["count"]
        entry["by_status"][group["status"]] += group["count"]
        type_counts = entry["by_type"].setdefault(
            group["event_type"], {status.value: 0 for status in EventStatus}
        )
        type_counts[group["status"]] += group["count"]
        by_status[group["status"]] += group["count"]
    last_received = WebhookEvent.objects.values("provider").annotate(
        last=Max("received_at")
    )
    for row in last_received:
        by_provider[row["provider"]]["last_received_at"] = row["last"]
    durations: list[int] = sorted(
        ms
        for ms in WebhookEvent.objects.filter(processing_ms__isnull=False)
        .order_by("-processed_at")
        .values_list("processing_ms", flat=True)[:PERCENTILE_WINDOW]
        if ms is not None  # the filter above; the type does not know it
    )
    failed_24h = WebhookEvent.objects.filter(
        status=EventStatus.FAILED, last_attempt_at__gte=now - timedelta(hours=24)
    ).count()
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "providers": by_provider,
        "processing_ms": {
            "count": len(durations),
            **{f"p{pct}": _percentile(durations, pct) for pct in PERCENTILES},
            "max": durations[-1] if durations else None,
        },
        "failed_last_24h": failed_24h,
        "rejected": webhook_rejections(),
        "generated_at": now,
    }


def webhook_failure_count(*, since: datetime) -> int:
    """Events that ended `failed` (retries exhausted) since `since`."""
    return WebhookEvent.objects.filter(
        status=EventStatus.FAILED, last_attempt_at__gte=since
    ).count()


def webhook_events_needing_attention(*, limit: int) -> QuerySet[WebhookEvent]:
    """Failed events (retries exhausted), newest attempt first: the ones staff
    retry from the portal. At most `limit`."""
    return WebhookEvent.objects.filter(status=EventStatus.FAILED).order_by(
        "-last_attempt_at", "-id"
    )[:limit]
