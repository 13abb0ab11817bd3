"""Shared metrics: recorded by every process, read over rolling windows, exported
to Prometheus behind a token."""

import subprocess
import sys
import textwrap
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flowmatik.metrics import (
    metrics_record_ai_call,
    metrics_record_quota_refusal,
    metrics_record_request,
    metrics_record_webhook,
)
from flowmatik.metrics.store import RedisMetricsStore, SqliteMetricsStore
from flowmatik.metrics.windows import histogram_quantile, metrics_window


def _record_dataset() -> None:
    """95 fast requests (10 ms) and 5 slow ones (400 ms); errors on two routes."""
    for _ in range(90):
        metrics_record_request(method="GET", route="api/a", status=200, duration_ms=10)
    for _ in range(5):
        metrics_record_request(method="POST", route="api/b", status=400, duration_ms=10)
    for _ in range(3):
        metrics_record_request(method="GET", route="api/a", status=500, duration_ms=400)
    for _ in range(2):
        metrics_record_request(method="GET", route="api/b", status=503, duration_ms=400)


def _assert_dataset(window: dict) -> None:
    requests = window["requests"]
    assert requests["count"] == 100
    assert requests["per_second"] == round(100 / window["seconds"], 4)
    assert requests["avg_ms"] == (95 * 10 + 5 * 400) / 100
    # rank 95 of 100 falls at the top of the (5, 10] ms bucket
    assert requests["p95_ms"] == 10.0
    assert requests["errors_4xx"] == 5
    assert requests["errors_5xx"] == 5
    by_route = {row["route"]: row for row in requests["endpoints"]}
    assert by_route["api/a"] == {
        "route": "api/a",
        "requests": 93,
        "errors_4xx": 0,
        "errors_5xx": 3,
        "avg_ms": round((90 * 10 + 3 * 400) / 93, 2),
    }
    assert by_route["api/b"]["errors_4xx"] == 5
    assert by_route["api/b"]["errors_5xx"] == 2


def test_window_numbers_match_the_recorded_requests(isolated_metrics):
    _record_dataset()
    _assert_dataset(metrics_window(window="5m"))
    _assert_dataset(metrics_window(window="1h"))
    assert metrics_window(window="24h")["requests"]["count"] == 100


def test_old_buckets_fall_out_of_the_short_window(isolated_metrics):
    metrics_record_request(method="GET", route="api/a", status=200, duration_ms=5)
    later = time.time() + 10 * 60
    assert metrics_window(window="5m", now=later)["requests"]["count"] == 0
    assert metrics_window(window="1h", now=later)["requests"]["count"] == 1


def test_p95_interpolates_inside_the_bucket_holding_the_rank():
    bounds = (10, 20, 40)
    # 10 in (0,10], 10 in (10,20]: rank 19 is 9/10 of the way through bucket 2
    assert histogram_quantile(0.95, bounds, [10, 10, 0, 0]) == pytest.approx(19.0)
    assert histogram_quantile(0.95, bounds, [0, 0, 0, 4]) == 40.0
    assert histogram_quantile(0.95, bounds, [0, 0, 0, 0]) is None


def test_ai_cost_refusals_and_webhooks_are_aggregated(isolated_metrics):
    metrics_record_ai_call(
        user_id=7,
        model="m1",
        status="success",
        prompt_tokens=10,
        completion_tokens=5,
        cost="0.25",
        currency="USD",
    )
    metrics_record_ai_call(
        user_id=8,
        model="m1",
        status="success",
        prompt_tokens=1,
        completion_tokens=1,
        cost="1.5",
        currency="USD",
    )
    metrics_record_quota_refusal(limit_type="tokens")
    metrics_record_webhook(provider="stripe", outcome="processed")
    metrics_record_webhook(provider="stripe", outcome="processed")
    window = metrics_window(window="1h")
    assert window["ai"]["calls"] == 2
    assert window["ai"]["tokens"] == 17
    assert window["ai"]["cost"] == {"USD": "1.750000"}
    assert window["ai"]["cost_per_user"] == [
        {"user_id": 8, "currency": "USD", "cost": "1.500000"},
        {"user_id": 7, "currency": "USD", "cost": "0.250000"},
    ]
    assert window["quota_refusals"] == {"tokens": 1}
    assert window["webhooks"] == {"stripe": {"processed": 2}}


_CHILD = textwrap.dedent(
    """
    import sys
    from flowmatik.metrics import request_increments
    from flowmatik.metrics.store import SqliteMetricsStore
    import time

    store = SqliteMetricsStore(path=sys.argv[1], retry_seconds=1)
    for _ in range(40):
        store.apply(
            request_increments(
                method="GET", route="api/a", status=200, duration_ms=20,
                now=time.time(),
            )
        )
    """
)


def test_two_processes_share_one_embedded_store(isolated_metrics, settings):
    """Another OS process writes into the same file; this one reads the sum."""
    assert isinstance(isolated_metrics, SqliteMetricsStore) or settings.REDIS_URL
    if settings.REDIS_URL:
        pytest.skip("the embedded store is used without REDIS_URL")
    for _ in range(10):
        metrics_record_request(method="GET", route="api/a", status=200, duration_ms=20)
    child = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _CHILD, settings.METRICS_STORE_PATH],
        env={"DJANGO_SETTINGS_MODULE": "flowmatik.settings.test", "PATH": ""},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr.decode()
    assert metrics_window(window="5m")["requests"]["count"] == 50


@pytest.mark.redis
def test_two_recorders_share_one_redis_store(redis_url, settings):
    """Two web processes = two store clients on one Redis: one truth."""
    import uuid

    from flowmatik.metrics import request_increments

    prefix = f"fmk:test-metrics:{uuid.uuid4().hex}"
    first = RedisMetricsStore(url=redis_url, prefix=prefix, timeout=1, retry_seconds=1)
    second = RedisMetricsStore(url=redis_url, prefix=prefix, timeout=1, retry_seconds=1)
    try:
        for store, status in ((first, 200), (second, 500)):
            for _ in range(3):
                store.apply(
                    request_increments(
                        method="GET",
                        route="api/a",
                        status=status,
                        duration_ms=10,
                        now=time.time(),
                    )
                )
        settings.REDIS_URL = redis_url
        settings.METRICS_REDIS_PREFIX = prefix
        from flowmatik.metrics import metrics_reset

        metrics_reset()
        window = metrics_window(window="5m")
        assert window["requests"]["count"] == 6
        assert window["requests"]["errors_5xx"] == 3
    finally:
        first.clear()
        metrics_reset()


def test_a_dead_store_never_fails_the_request(isolated_metrics, settings, client):
    settings.METRICS_STORE_PATH = "/proc/no-such-dir/metrics.sqlite3"
    settings.REDIS_URL = ""
    from flowmatik.metrics import metrics_reset

    metrics_reset()
    response = client.get("/api/no-such-route")
    assert response.status_code == 404
    metrics_reset()


@pytest.mark.django_db
def test_the_middleware_records_each_request_by_route(isolated_metrics, client):
    client.get("/api/payments/plans")
    client.get("/api/payments/plans")
    client.get("/api/auth/me")  # 401
    window = metrics_window(window="5m")
    by_route = {row["route"]: row for row in window["requests"]["endpoints"]}
    assert by_route["api/payments/plans"]["requests"] == 2
    assert by_route["api/auth/me"]["errors_4xx"] == 1


# --- Prometheus -------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_endpoint_is_refused_without_the_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_metrics_endpoint_is_closed_when_nothing_is_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_metrics_endpoint_admits_an_allowed_network(client, settings, isolated_metrics):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 401


@pytest.mark.django_db
def test_metrics_endpoint_parses_with_prometheus_client(
    client, settings, isolated_metrics
):
    settings.METRICS_TOKEN = "s3cret-token"
    _record_dataset()
    metrics_record_ai_call(
        user_id=1,
        model="m1",
        status="success",
        prompt_tokens=10,
        completion_tokens=5,
        cost="0.5",
        currency="USD",
    )
    metrics_record_quota_refusal(limit_type="requests")
    metrics_record_webhook(provider="lemonsqueezy", outcome="failed")
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = {
        family.name: family
        for family in text_string_to_metric_families(response.content.decode())
    }
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    key = (
        "flowmatik_http_requests_total",
        (("method", "GET"), ("route", "api/a"), ("status", "200")),
    )
    assert samples[key] == 90
    histogram = "flowmatik_http_request_duration_seconds"
    assert samples[(f"{histogram}_count", (("route", "api/a"),))] == 93
    assert samples[(f"{histogram}_bucket", (("le", "0.01"), ("route", "api/a")))] == 90
    assert samples[(f"{histogram}_sum", (("route", "api/a"),))] == pytest.approx(2.1)
    assert (
        samples[("flowmatik_ai_tokens_total", (("kind", "prompt"), ("model", "m1")))]
        == 10
    )
    assert (
        samples[("flowmatik_ai_cost_total", (("currency", "USD"), ("model", "m1")))]
        == 0.5
    )
    assert (
        samples[("flowmatik_quota_refusals_total", (("limit_type", "requests"),))] == 1
    )
    assert (
        samples[
            (
                "flowmatik_webhook_events_total",
                (("outcome", "failed"), ("provider", "lemonsqueezy")),
            )
        ]
        == 1
    )
    assert "flowmatik_websocket_connections" in families
    assert "flowmatik_celery_queue_depth" in families


@pytest.mark.django_db
def test_a_finished_content_job_records_its_status_and_duration(
    isolated_metrics, user, client, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from ai.models import ContentJob, JobStatus, JobType
    from ai.services.jobs import job_finish

    job = ContentJob.objects.create(
        user=user,
        type=JobType.BLOG_POST,
        status=JobStatus.RUNNING,
        prompt="x",
        started_at=timezone.now() - timedelta(seconds=12),
    )
    assert job_finish(job, status=JobStatus.SUCCEEDED)
    assert metrics_window(window="5m")["jobs"] == {"blog_post": {"succeeded": 1}}

    settings.METRICS_TOKEN = "t"
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    duration = "flowmatik_job_duration_seconds"
    assert samples[(f"{duration}_count", (("type", "blog_post"),))] == 1
    # 12 s lands in the (5, 15] bucket
    assert samples[(f"{duration}_bucket", (("le", "5.0"), ("type", "blog_post")))] == 0
    assert samples[(f"{duration}_bucket", (("le", "15.0"), ("type", "blog_post")))] == 1


# --- the event loop's buffer -------------------------------------------------------


def test_the_event_loops_metrics_are_summed_and_written_in_one_store_write(
    isolated_metrics, settings, monkeypatch
):
    import asyncio

    from flowmatik.metrics import ametrics_record_request

    settings.METRICS_FLUSH_MS = 60_000  # the reader's flush, not the thread's
    writes: list[int] = []
    real_apply = type(isolated_metrics).apply

    def counting_apply(self, increments):
        writes.append(len(increments))
        return real_apply(self, increments)

    monkeypatch.setattr(type(isolated_metrics), "apply", counting_apply)

    async def requests() -> None:
        for _ in range(20):
            await ametrics_record_request(
                method="GET", route="api/a", status=200, duration_ms=10
            )

    asyncio.run(requests())
    assert writes == []  # nothing written by the requests themselves

    window = metrics_window(window="5m")

    assert window["requests"]["count"] == 20
    assert window["requests"]["avg_ms"] == 10
    assert len(writes) == 1  # twenty requests, one write of their sums


def test_metrics_flush_ms_zero_writes_each_request_through(isolated_metrics, settings):
    import asyncio

    from flowmatik.metrics import ametrics_record_request
    from flowmatik.metrics.windows import metrics_totals

    settings.METRICS_FLUSH_MS = 0
    asyncio.run(
        ametrics_record_request(method="GET", route="api/a", status=200, duration_ms=5)
    )

    assert isolated_metrics.read(["req:total"])[0]["n|GET|api/a|200"] == 1
    assert metrics_totals("req")["n|GET|api/a|200"] == 1
