"""`GET /health`: the design document's shape plus checks of database, cache and broker.

The database is required (503 `unhealthy` when it fails); the cache and broker are
reported, and their failure makes the status `degraded` (still 200): quotas fall back
to the database and tasks queue up once the broker is back.
"""

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from flowmatik.celery import app as celery_app

REQUIRED_CHECKS = ("database",)


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache read-back mismatch")
    cache.delete(key)


def check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(
            max_retries=1,
            interval_start=0,
            interval_step=0,
            timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
        )


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def _run(check: Callable[[], None]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        return {
            "status": "fail",
            "error": type(exc).__name__,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    return {
        "status": "ok",
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def health_report() -> tuple[dict[str, object], int]:
    """Run every check; return the body and its HTTP status."""
    checks = {name: _run(fn) for name, fn in CHECKS.items()}
    failing = [name for name, result in checks.items() if result["status"] != "ok"]
    if any(name in REQUIRED_CHECKS for name in failing):
        status, http_status = "unhealthy", 503
    elif failing:
        status, http_status = "degraded", 200
    else:
        status, http_status = "healthy", 200
    body = {
        "status": status,
        "timestamp": datetime.now(tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "version": settings.APP_VERSION,
        "environment": settings.ENVIRONMENT,
        "checks": checks,
    }
    if failing:
        body["failing"] = failing
    return body, http_status


@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    body, status = health_report()
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response
