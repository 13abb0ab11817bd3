"""Deliveries through the ASGI server, as the providers reach production: the lean
handler (no sync-only middleware), the checks on the event loop, the one INSERT and
the publish on the shared worker threads, whose database connections stay open
across deliveries; and a delivery acked by a web process, processed by a real
Celery worker in another process."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db.backends.signals import connection_created

from flowmatik.testing.payments import STRIPE_WEBHOOK_SECRET
from flowmatik.testing.platform import celery_worker_process, platform_env, wait_for
from flowmatik.testing.processes import uvicorn_process
from webhooks_app.models import EventStatus, WebhookEvent
from webhooks_app.selectors import webhook_rejections
from webhooks_app.tests.helpers import (
    STRIPE_URL,
    stripe_event,
    stripe_signature,
)

pytestmark = [
    pytest.mark.usefixtures("webhook_secrets"),
    pytest.mark.timeout(180, func_only=True),
]


@pytest.fixture
def connections_opened():
    """Database connections opened, in any thread, while the test runs."""
    opened: list[str] = []

    def count(sender, connection, **kwargs):
        opened.append(connection.alias)

    connection_created.connect(count, weak=False)
    yield opened
    connection_created.disconnect(count)


def _signed(event_id: str, *, ts: int | None = None) -> tuple[str, dict[str, str]]:
    body = json.dumps(
        stripe_event("customer.updated", {"id": "cus_1"}, event_id=event_id)
    )
    header = stripe_signature(body, STRIPE_WEBHOOK_SECRET, ts or int(time.time()))
    return body, {"Content-Type": "application/json", "Stripe-Signature": header}


def test_deliveries_reuse_database_connections_and_run_no_sync_middleware(
    live_asgi, eager_celery, sync_middleware_hops, connections_opened
):
    with httpx.Client(base_url=live_asgi.http_url, timeout=30) as http:
        first = [
            http.post(STRIPE_URL, content=b, headers=h)
            for b, h in (_signed(f"evt_conn_{i}") for i in range(20))
        ]
        again = [
            http.post(STRIPE_URL, content=b, headers=h)
            for b, h in (_signed(f"evt_conn_{i}") for i in range(20))
        ]

    assert [r.status_code for r in first + again] == [200] * 40
    assert [r.json()["duplicate"] for r in first] == [False] * 20
    assert [r.json()["duplicate"] for r in again] == [True] * 20
    assert first[0].headers["X-Request-ID"]
    assert first[0].headers["X-Content-Type-Options"] == "nosniff"
    # A connection per delivery before (each request's own thread opened one and
    # closed it at the end); now the worker threads' connections are kept.
    assert len(connections_opened) <= 4, connections_opened
    assert sync_middleware_hops == []
    # Stored once each, and processed once (eager: inline, after the commit)
    rows = list(WebhookEvent.objects.values_list("status", "attempts"))
    assert len(rows) == 20
    assert set(rows) == {(EventStatus.IGNORED, 1)}


def test_rejections_over_asgi_are_4xx_with_their_code_and_counted(live_asgi, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2000
    url = f"{live_asgi.http_url}{STRIPE_URL}"
    body, headers = _signed("evt_reject")
    forged = httpx.post(
        url,
        content=body,
        headers={**headers, "Stripe-Signature": "t=1,v1=00"},
        timeout=30,
    )
    stale_body, stale_headers = _signed("evt_stale", ts=int(time.time()) - 3600)
    stale = httpx.post(url, content=stale_body, headers=stale_headers, timeout=30)
    too_large = httpx.post(
        url, content=b"{" + b" " * 3000 + b"}", headers=headers, timeout=30
    )
    wrong_type = httpx.post(
        url, content=body, headers={**headers, "Content-Type": "text/plain"}, timeout=30
    )
    not_json_body = "not json"
    not_json = httpx.post(
        url,
        content=not_json_body,
        headers={
            **headers,
            "Stripe-Signature": stripe_signature(
                not_json_body, STRIPE_WEBHOOK_SECRET, int(time.time())
            ),
        },
        timeout=30,
    )
    get = httpx.get(url, timeout=30)

    answers = [
        (r.status_code, r.json()["error"]["code"])
        for r in (forged, stale, too_large, wrong_type, not_json, get)
    ]
    assert answers == [
        (400, "invalid_signature"),
        (400, "stale_signature"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        (400, "invalid_payload"),
        (405, "method_not_allowed"),
    ]
    counted = webhook_rejections()["stripe"]
    assert (
        counted["bad_signature"],
        counted["stale_signature"],
        counted["too_large"],
        counted["wrong_content_type"],
        counted["invalid_payload"],
    ) == (1, 1, 1, 1, 1)
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_events_delivered_three_times_at_once_are_acked_stored_and_processed_once(
    tmp_path,
):
    """Two web processes ack; the real worker (another process) processes."""
    env = platform_env(workdir=tmp_path, STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET)
    deliveries = [_signed(f"evt_x3_{i}") for i in range(10)] * 3
    with (
        uvicorn_process(workdir=tmp_path, env=env, name="web-a") as web_a,
        uvicorn_process(workdir=tmp_path, env=env, name="web-b") as web_b,
        celery_worker_process(workdir=tmp_path, env=env, beat=False),
        ThreadPoolExecutor(max_workers=6) as pool,
    ):
        urls = [f"{web.http_url}{STRIPE_URL}" for web in (web_a, web_b)]
        answers = list(
            pool.map(
                lambda i: httpx.post(
                    urls[i % 2],
                    content=deliveries[i][0],
                    headers=deliveries[i][1],
                    timeout=30,
                ),
                range(len(deliveries)),
            )
        )
        assert [a.status_code for a in answers] == [200] * 30
        assert sum(not a.json()["duplicate"] for a in answers) == 10

        def finished():
            rows = list(
                WebhookEvent.objects.filter(event_id__startswith="evt_x3_").values_list(
                    "status", "attempts"
                )
            )
            return rows if all(s == EventStatus.IGNORED for s, _ in rows) else None

        rows = wait_for(finished, timeout=60, what="the worker")
    assert len(rows) == 10
    assert {attempts for _, attempts in rows} == {1}


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_between_deliveries_costs_no_500(tmp_path):
    """The worker threads keep their connections across deliveries: one the
    database dropped meanwhile (restart, wait_timeout, KILL) is found broken by the
    next delivery, which runs again on a new connection and is acked."""
    from django.db import connection

    from flowmatik.testing.faults import mysql_kill_connections

    if connection.vendor != "mysql":
        pytest.skip("kills MariaDB connections")
    env = platform_env(workdir=tmp_path, STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET)
    database = connection.settings_dict["NAME"]
    with (
        uvicorn_process(workdir=tmp_path, env=env, name="web") as web,
        httpx.Client(base_url=web.http_url, timeout=30) as http,
    ):
        before = [
            http.post(STRIPE_URL, content=b, headers=h)
            for b, h in (_signed(f"evt_drop_{i}") for i in range(6))
        ]
        killed = mysql_kill_connections(database=database, client_pid=web.process.pid)
        after = [
            http.post(STRIPE_URL, content=b, headers=h)
            for b, h in (_signed(f"evt_drop_{i}") for i in range(6, 12))
        ]

    assert killed >= 1
    assert [r.status_code for r in before + after] == [200] * 12, [
        r.text[:200] for r in after
    ]
    assert WebhookEvent.objects.filter(event_id__startswith="evt_drop_").count() == 12
