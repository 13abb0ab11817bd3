"""Staff reads about the running platform: live metrics and component health."""

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from ai import selectors as ai_selectors
from billing import selectors as billing_selectors
from flowmatik import health, realtime
from flowmatik.celery import app as celery_app
from flowmatik.metrics.system import celery_queue_depth, process_list
from flowmatik.metrics.windows import WINDOWS, metrics_window


def admin_metrics(*, window: str) -> dict[str, Any]:
    """Every process's requests, latency, errors per endpoint, AI cost per user,
    refusals and webhooks over `window`, plus live gauges (sockets, processes,
    queue depth) and the revenue paid inside the window."""
    data = metrics_window(window=window)
    since = timezone.now() - timedelta(seconds=WINDOWS[window].seconds)
    try:
        sockets = realtime.realtime_metrics()
    except Exception as exc:  # Redis down: report it, do not fail the page
        sockets = {"error": type(exc).__name__}
    return {
        **data,
        "websockets": sockets,
        "processes": process_list(),
        "celery_queue_depth": celery_queue_depth(),
        "revenue": {
            currency: str(amount)
            for currency, amount in billing_selectors.revenue_total(since=since).items()
        },
    }


# --- health -----------------------------------------------------------------------


class ComponentDown(RuntimeError):
    """A check's failure with details worth showing."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


def _timed(check: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = check() or {}
        status = details.pop("status", "ok")
    except Exception as exc:
        details = {
            "error": type(exc).__name__,
            "message": str(exc)[:200] if isinstance(exc, ComponentDown) else "",
            **getattr(exc, "details", {}),
        }
        status = "fail"
    return {
        "status": status,
        **details,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _check_redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"status": "not_configured"}
    timeout = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    finally:
        client.close()
    return {}


def _check_channel_layer() -> dict[str, Any]:
    """A message sent to a fresh channel comes back (the layer really carries)."""

    async def roundtrip() -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel("health.")
        await layer.send(channel, {"type": "health.ping"})
        message = await asyncio.wait_for(
            layer.receive(channel), settings.HEALTH_CHECK_TIMEOUT_SECONDS
        )
        if message.get("type") != "health.ping":
            raise ComponentDown("the channel layer returned another message")

    async_to_sync(roundtrip)()
    return {
        "backend": str(settings.CHANNEL_LAYERS["default"]["BACKEND"]).rsplit(".", 1)[1]
    }


def _check_workers() -> dict[str, Any]:
    replies = celery_app.control.ping(timeout=settings.ADMIN_HEALTH_WORKER_PING_SECONDS)
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        raise ComponentDown("no Celery worker answered the ping", workers=[])
    return {"workers": workers}


def _check_beat() -> dict[str, Any]:
    last = health.beat_last_heartbeat()
    age = (timezone.now() - last).total_seconds() if last else None
    details = {
        "last_heartbeat": last.isoformat() if last else None,
        "age_seconds": round(age, 1) if age is not None else None,
    }
    if age is None or age > settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS:
        raise ComponentDown("no recent beat heartbeat", **details)
    return details


def _check_disk() -> dict[str, Any]:
    usage = shutil.disk_usage(settings.VAR_DIR)
    free_percent = round(usage.free / usage.total * 100, 2)
    details = {
        "path": str(settings.VAR_DIR),
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "free_percent": free_percent,
    }
    if free_percent < settings.ADMIN_HEALTH_DISK_MIN_FREE_PERCENT:
        raise ComponentDown("disk almost full", **details)
    return details


def _ai_providers() -> dict[str, dict[str, Any]]:
    result = {}
    for provider in ai_selectors.provider_status():
        if not provider["configured"]:
            status = "not_configured"
        elif provider["circuit"] == "open":
            status = "fail"
        elif provider["circuit"] == "half_open":
            status = "degraded"
        else:
            status = "ok"
        result[provider["provider"]] = {
            "status": status,
            "circuit": provider["circuit"],
            "consecutive_failures": provider["consecutive_failures"],
            "recent_error_rate": provider["recent_error_rate"],
            "recent_latency_ms_p50": provider["recent_latency_ms_p50"],
        }
    return result


def _payment_providers() -> dict[str, dict[str, Any]]:
    result = {}
    for provider in billing_selectors.payment_provider_status():
        ready = provider["configured"] and provider["webhook_secret_set"]
        result[provider["provider"]] = {
            "status": "ok" if ready else "not_configured",
            "api_configured": provider["configured"],
            "webhook_secret_set": provider["webhook_secret_set"],
            "plans_priced": provider["plans_priced"],
        }
    return result


COMPONENT_CHECKS: dict[str, Callable[[], dict[str, Any] | None]] = {
    "database": health.check_database,
    "cache": health.check_cache,
    "redis": _check_redis,
    "broker": health.check_broker,
    "channel_layer": _check_channel_layer,
    "celery_workers": _check_workers,
    "beat": _check_beat,
    "disk": _check_disk,
}


def admin_health() -> dict[str, Any]:
    """Each component with its status and latency; `unhealthy` when the database
    fails, `degraded` when anything else fails."""
    components = {name: _timed(check) for name, check in COMPONENT_CHECKS.items()}
    ai = _timed(_ai_providers)
    payments = _timed(_payment_providers)
    failing = [name for name, row in components.items() if row["status"] == "fail"]
    failing += [
        f"ai:{name}"
        for name, row in ai.items()
        if isinstance(row, dict) and row.get("status") == "fail"
    ]
    if "database" in failing:
        status = "unhealthy"
    elif failing:
        status = "degraded"
    else:
        status = "healthy"
    return {
        "status": status,
        "failing": failing,
        "checked_at": timezone.now(),
        "components": components,
        "ai_providers": {k: v for k, v in ai.items() if isinstance(v, dict)},
        "payment_providers": {k: v for k, v in payments.items() if isinstance(v, dict)},
    }
