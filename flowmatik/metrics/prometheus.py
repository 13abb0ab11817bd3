"""`GET /metrics`: the shared counters in Prometheus' exposition format.

prometheus_client renders a collector that reads the cumulative counters every
process wrote to the shared store, so any web process answers for all of them
(multiprocess-safe without a per-process file directory). Access needs the bearer
token `METRICS_TOKEN` or a client address in `METRICS_ALLOWED_IPS`; with neither
configured the endpoint is closed.
"""

import hmac
import ipaddress
import logging
from collections import defaultdict

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from flowmatik.client_ip import client_ip
from flowmatik.errors import error_body
from flowmatik.metrics import JOB_BUCKETS_SECONDS, REQUEST_BUCKETS_MS
from flowmatik.metrics.windows import metrics_totals

logger = logging.getLogger("flowmatik.metrics")


def _histogram(
    name: str,
    documentation: str,
    label: str,
    sums: dict[str, float],
    buckets: dict[str, list[float]],
    bounds: tuple,
    scale: float,
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value in sorted(buckets):
        counts = buckets[value]
        cumulative, running = [], 0.0
        for index, bound in enumerate([*bounds, float("inf")]):
            running += counts[index]
            le = "+Inf" if bound == float("inf") else repr(float(bound) * scale)
            cumulative.append((le, running))
        family.add_metric([value], cumulative, sum_value=sums.get(value, 0.0) * scale)
    return family


def _split(fields: dict[str, float]):
    for field, value in fields.items():
        kind, *labels = field.split("|")
        yield kind, labels, value


class SharedStoreCollector:
    """Builds every metric family from the store on each scrape."""

    def collect(self):
        yield from self._requests()
        yield from self._ai()
        yield from self._simple()
        yield from self._jobs()
        yield from self._gauges()

    def _requests(self):
        counter = CounterMetricFamily(
            "flowmatik_http_requests",
            "HTTP requests by method, route and status.",
            labels=["method", "route", "status"],
        )
        sums: dict[str, float] = defaultdict(float)
        buckets: dict[str, list[float]] = defaultdict(
            lambda: [0.0] * (len(REQUEST_BUCKETS_MS) + 1)
        )
        for kind, labels, value in _split(metrics_totals("req")):
            if kind == "n":
                counter.add_metric(labels, value)
            elif kind == "d":
                sums[labels[0]] += value
            elif kind == "b":
                buckets[labels[0]][int(labels[1])] += value
        yield counter
        yield _histogram(
            "flowmatik_http_request_duration_seconds",
            "HTTP request latency by route.",
            "route",
            sums,
            buckets,
            REQUEST_BUCKETS_MS,
            0.001,
        )

    def _ai(self):
        calls = CounterMetricFamily(
            "flowmatik_ai_calls",
            "AI calls by model and status.",
            labels=["model", "status"],
        )
        tokens = CounterMetricFamily(
            "flowmatik_ai_tokens",
            "AI tokens by model and kind.",
            labels=["model", "kind"],
        )
        cost = CounterMetricFamily(
            "flowmatik_ai_cost",
            "AI cost by model and currency.",
            labels=["model", "currency"],
        )
        for kind, labels, value in _split(metrics_totals("ai")):
            target = {"calls": calls, "tok": tokens, "cost": cost}.get(kind)
            if target is not None:
                target.add_metric(labels, value)
        yield from (calls, tokens, cost)

    def _simple(self):
        refusals = CounterMetricFamily(
            "flowmatik_quota_refusals",
            "AI calls refused for quota or rate limits.",
            labels=["limit_type"],
        )
        for _kind, labels, value in _split(metrics_totals("quota")):
            refusals.add_metric(labels, value)
        webhooks = CounterMetricFamily(
            "flowmatik_webhook_events",
            "Webhook deliveries by provider and outcome.",
            labels=["provider", "outcome"],
        )
        for kind, labels, value in _split(metrics_totals("wh")):
            if kind == "n":
                webhooks.add_metric(labels, value)
        yield from (refusals, webhooks)

    def _jobs(self):
        jobs = CounterMetricFamily(
            "flowmatik_jobs", "Finished background jobs.", labels=["type", "status"]
        )
        sums: dict[str, float] = defaultdict(float)
        buckets: dict[str, list[float]] = defaultdict(
            lambda: [0.0] * (len(JOB_BUCKETS_SECONDS) + 1)
        )
        for kind, labels, value in _split(metrics_totals("job")):
            if kind == "n":
                jobs.add_metric(labels, value)
            elif kind == "d":
                sums[labels[0]] += value
            elif kind == "b":
                buckets[labels[0]][int(labels[1])] += value
        yield jobs
        yield _histogram(
            "flowmatik_job_duration_seconds",
            "Background job duration by type.",
            "type",
            sums,
            buckets,
            JOB_BUCKETS_SECONDS,
            1.0,
        )

    def _gauges(self):
        from flowmatik import realtime
        from flowmatik.metrics.system import celery_queue_depth

        sockets = GaugeMetricFamily(
            "flowmatik_websocket_connections", "Open WebSocket connections."
        )
        try:
            sockets.add_metric(
                [], float(realtime.realtime_metrics()["connections"]["total"])
            )
        except Exception:
            logger.warning("WebSocket count unavailable for /metrics", exc_info=True)
        yield sockets
        depth = GaugeMetricFamily(
            "flowmatik_celery_queue_depth",
            "Messages waiting in a queue.",
            labels=["queue"],
        )
        for queue, value in celery_queue_depth().items():
            if value is not None:
                depth.add_metric([queue], float(value))
        yield depth


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SharedStoreCollector())
    return registry


def metrics_access_allowed(request: HttpRequest) -> bool:
    """A matching bearer token, or a client address inside METRICS_ALLOWED_IPS."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    address = client_ip(request)
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.warning("Bad METRICS_ALLOWED_IPS entry", extra={"entry": network})
    return False


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        response = JsonResponse(
            error_body("not_authenticated", "A valid metrics token is required."),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(
        generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST
    )
    response["Cache-Control"] = "no-store"
    return response
