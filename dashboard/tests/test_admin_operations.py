"""`/api/admin/metrics` and `/api/admin/health` through HTTP, against real parts:
a second OS process writing metrics, a Redis server the test starts and stops, a
Celery worker that is (or is not) there, unconfigured payment providers."""

import socket
import subprocess
import sys
import time

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from flowmatik.celery import app as celery_app
from flowmatik.metrics import metrics_record_request
from flowmatik.metrics.system import process_report

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/admin/metrics", "/api/admin/health"])
def test_anonymous_401_normal_and_premium_403(path, user):
    assert APIClient().get(path).status_code == 401
    premium = UserFactory()
    subscription_row(user=premium, plan="pro")
    for who in (user, premium):
        client = APIClient()
        client.force_authenticate(user=who)
        response = client.get(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "admin_required"


# --- metrics ----------------------------------------------------------------------

_CHILD = """
import sys, time
from flowmatik.metrics import request_increments
from flowmatik.metrics.store import SqliteMetricsStore

store = SqliteMetricsStore(path=sys.argv[1], retry_seconds=1)
for status in [200] * 18 + [500] * 2:
    store.apply(request_increments(
        method="GET", route="api/ai/models", status=status, duration_ms=400,
        now=time.time(),
    ))
"""


@pytest.mark.usefixtures("catalogue_tx")
def test_metrics_sum_what_every_process_recorded(
    isolated_metrics, settings, live_asgi, jwt_for
):
    """Through a live server: this process, a second OS process and a real AI
    call through the gateway all land in the one store the endpoint reads."""
    if settings.REDIS_URL:
        pytest.skip("the embedded store is used without REDIS_URL")
    user, staff = UserFactory(), UserFactory(is_staff=True)
    # this process: 78 fast requests, 2 of them 404s
    for status in [200] * 76 + [404] * 2:
        metrics_record_request(
            method="GET", route="api/ai/models", status=status, duration_ms=8
        )
    # another web process: 20 slow ones, 2 of them 500s
    child = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _CHILD, settings.METRICS_STORE_PATH],
        env={"PATH": ""},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()
    settings.METRICS_PROCESS_REPORT_SECONDS = 15
    process_report("web")
    with httpx.Client(base_url=live_asgi.http_url, timeout=20) as http:
        # a real AI call through the gateway records its cost for this user
        chat = http.post(
            "/api/ai/chat",
            json={"message": "hello"},
            headers={"Authorization": f"Bearer {jwt_for(user)}"},
        )
        assert chat.status_code == 200, chat.content
        response = http.get(
            "/api/admin/metrics",
            params={"window": "5m"},
            headers={"Authorization": f"Bearer {jwt_for(staff)}"},
        )
    assert response.status_code == 200, response.content
    body = response.json()
    models = next(
        row for row in body["requests"]["endpoints"] if row["route"] == "api/ai/models"
    )
    assert models == {
        "route": "api/ai/models",
        "requests": 98,
        "errors_4xx": 2,
        "errors_5xx": 2,
        "avg_ms": round((78 * 8 + 20 * 400) / 98, 2),
    }
    chat_route = next(
        row for row in body["requests"]["endpoints"] if row["route"] == "api/ai/chat"
    )
    assert chat_route["requests"] == 1
    # 78 of 99 requests are <= 10 ms; the p95 rank falls among the 400 ms ones,
    # inside the (250, 500] bucket
    assert 250 < body["requests"]["p95_ms"] <= 500
    assert body["ai"]["calls"] == 1
    assert body["ai"]["tokens"] > 0
    assert [row["user_id"] for row in body["ai"]["cost_per_user"]] == [user.pk]
    assert body["processes"][0]["role"] == "web"
    assert body["processes"][0]["rss_bytes"] > 0
    assert set(body["celery_queue_depth"]) == {"celery"}
    assert body["window"] == "5m"
    assert body["seconds"] == 300


@pytest.mark.parametrize("window", ["1m", "7d", "5M", "24h;"])
def test_an_unknown_window_is_400(staff_client, window):
    response = staff_client.get("/api/admin/metrics", {"window": window})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_each_window_reads_its_own_span(isolated_metrics, staff_client):
    for window, seconds in (("5m", 300), ("1h", 3600), ("24h", 86400)):
        body = staff_client.get("/api/admin/metrics", {"window": window}).json()
        assert body["seconds"] == seconds


# --- health -----------------------------------------------------------------------


def _health(client) -> dict:
    response = client.get("/api/admin/health")
    assert response.status_code == 200, response.content
    return response.json()


def test_health_reports_a_dead_worker_and_unconfigured_providers(
    staff_client, settings
):
    settings.STRIPE_SECRET_KEY = ""
    settings.LEMONSQUEEZY_API_KEY = ""
    settings.ADMIN_HEALTH_WORKER_PING_SECONDS = 0.3
    body = _health(staff_client)
    components = body["components"]
    assert components["database"]["status"] == "ok"
    assert components["database"]["latency_ms"] >= 0
    assert components["cache"]["status"] == "ok"
    assert components["channel_layer"]["status"] == "ok"
    assert components["celery_workers"]["status"] == "fail"
    assert components["celery_workers"]["workers"] == []
    assert "celery_workers" in body["failing"]
    assert body["status"] == "degraded"
    assert components["disk"]["free_bytes"] > 0
    for provider in ("stripe", "lemonsqueezy"):
        assert body["payment_providers"][provider]["status"] == "not_configured"
        assert body["payment_providers"][provider]["api_configured"] is False


def test_health_reports_a_configured_payment_provider(staff_client, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_123"
    body = _health(staff_client)
    assert body["payment_providers"]["stripe"]["status"] == "ok"


def test_health_sees_a_live_worker(staff_client, settings):
    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        for _ in range(20):
            body = _health(staff_client)
            if body["components"]["celery_workers"]["status"] == "ok":
                break
            time.sleep(0.2)
    assert body["components"]["celery_workers"]["status"] == "ok"
    assert body["components"]["celery_workers"]["workers"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_health_reports_a_stopped_redis(staff_client, settings):
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        for _ in range(50):
            up = _health(staff_client)["components"]["redis"]
            if up["status"] == "ok":
                break
            time.sleep(0.1)
        assert up["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)
    body = _health(staff_client)
    assert body["components"]["redis"]["status"] == "fail"
    assert body["components"]["redis"]["error"] == "ConnectionError"
    assert "redis" in body["failing"]
    assert body["status"] == "degraded"


def test_health_reports_an_open_ai_circuit(staff_client, settings):
    from ai.providers.circuit import circuit_before_call, circuit_record_failure

    settings.AI_CIRCUIT_FAILURE_THRESHOLD = 1
    body = _health(staff_client)
    name = next(
        name
        for name, row in body["ai_providers"].items()
        if row["status"] != "not_configured"
    )
    assert body["ai_providers"][name]["status"] == "ok"
    ticket = circuit_before_call(name)
    circuit_record_failure(ticket, latency_ms=5, error_code="upstream_error")
    body = _health(staff_client)
    assert body["ai_providers"][name]["circuit"] == "open"
    assert body["ai_providers"][name]["status"] == "fail"
    assert f"ai:{name}" in body["failing"]


def test_health_reports_beat_from_its_heartbeat(staff_client):
    from flowmatik.health import beat_heartbeat_record

    missing = _health(staff_client)["components"]["beat"]
    assert missing["status"] == "fail"
    assert missing["last_heartbeat"] is None
    beat_heartbeat_record()
    alive = _health(staff_client)["components"]["beat"]
    assert alive["status"] == "ok"
    assert alive["age_seconds"] < 5
