"""`GET /health`: the documented shape plus checks of database, cache, broker, beat.

The database is required (503 `unhealthy` when it fails); the cache, broker and beat
are reported, and their failure makes the status `degraded` (still 200): quotas fall
back to the database and tasks queue up once the broker is back. Beat is alive when
its heartbeat (written by `flowmatik.beat.HeartbeatScheduler` into the shared cache)
is younger than `BEAT_HEARTBEAT_MAX_AGE_SECONDS`; without it no periodic task runs
(usage drain, reconciliation, subscription expiry).
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


BEAT_HEARTBEAT_KEY = "beat:heartbeat"


def beat_heartbeat_record() -> None:
    """Beat is alive now (called by the beat scheduler; kept until overwritten)."""
    cache.set(BEAT_HEARTBEAT_KEY, time.time(), timeout=None)


def beat_last_heartbeat() -> datetime | None:
    """When beat last wrote its heartbeat (any process, any host), or None."""
    stamp = cache.get(BEAT_HEARTBEAT_KEY)
    return datetime.fromtimestamp(stamp, tz=UTC) if stamp is not None else None


class BeatNotRunning(RuntimeError):
    def __init__(self, last: datetime | None):
        super().__init__("no recent beat heartbeat")
        self.details = _beat_details(last)


def _beat_details(last: datetime | None) -> dict[str, object]:
    if last is None:
        return {"last_heartbeat": None}
    return {
        "last_heartbeat": _iso(last),
        "age_seconds": round((datetime.now(tz=UTC) - last).total_seconds(), 1),
    }


def check_beat() -> dict[str, object]:
    last = beat_last_heartbeat()
    age = (datetime.now(tz=UTC) - last).total_seconds() if last else None
    if age is None or age > settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS:
        raise BeatNotRunning(last)
    return _beat_details(last)


CHECKS: dict[str, Callable[[], dict[str, object] | None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
    "beat": check_beat,
}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _run(check: Callable[[], dict[str, object] | None]) -> dict[str, object]:
    started = time.perf_counter()
    try:
        details = check() or {}
    except Exception as exc:
        return {
            "status": "fail",
            "error": type(exc).__name__,
            **getattr(exc, "details", {}),
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }
    return {
        "status": "ok",
        **details,
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
        "timestamp": _iso(datetime.now(tz=UTC)),
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
