"""/v1 runs through the lean handler: the same headers and error envelope as every
other path, without Django's sync-only middleware (no thread hop per hook), and
Django's request signals without a thread of their own."""

import secrets
import threading
from collections.abc import Iterator

import httpx
import pytest
from django.core import signals

from accounts.credentials import API_KEY_PREFIX, api_key_hash
from accounts.models import ApiKey
from accounts.tests.factories import UserFactory
from ai import selectors
from billing.tests.factories import subscription_row
from flowmatik.testing.platform import wait_for

ORIGIN = "https://app.flowmatik.co"


def test_v1_keeps_request_ids_security_headers_cors_and_the_error_envelope(
    live_asgi, settings, sync_middleware_hops
):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    response = httpx.get(
        f"{live_asgi.http_url}/v1/models",
        headers={"Origin": ORIGIN, "X-Request-ID": "req-lean-1"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["X-Request-ID"] == "req-lean-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert sync_middleware_hops == []

    missing = httpx.get(
        f"{live_asgi.http_url}/v1/no-such-thing",
        headers={"Accept-Language": "es"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.headers["Content-Language"] == "es"  # the reader's language
    assert sync_middleware_hops == []


def test_other_paths_keep_the_whole_middleware_chain(live_asgi, sync_middleware_hops):
    response = httpx.get(f"{live_asgi.http_url}/api/ai/models", timeout=10)

    assert response.status_code == 401
    assert {"SessionMiddleware", "CsrfViewMiddleware"} <= set(sync_middleware_hops)


@pytest.fixture
def request_signals() -> Iterator[list[tuple[str, str]]]:
    """(signal, thread name) of every request_started / request_finished sent."""
    sent: list[tuple[str, str]] = []

    def started(**kwargs):
        sent.append(("started", threading.current_thread().name))

    def finished(**kwargs):
        sent.append(("finished", threading.current_thread().name))

    signals.request_started.connect(started, weak=False)
    signals.request_finished.connect(finished, weak=False)
    yield sent
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


@pytest.fixture
def threads_started(monkeypatch) -> list[str]:
    names: list[str] = []
    real = threading.Thread.start

    def spy(self):
        names.append(self.name)
        return real(self)

    monkeypatch.setattr(threading.Thread, "start", spy)
    return names


def test_a_v1_call_without_sync_code_starts_no_thread_for_django_signals(
    live_asgi, request_signals, threads_started
):
    for _ in range(3):
        response = httpx.get(f"{live_asgi.http_url}/v1/models", timeout=10)
        assert response.status_code == 401
    wait_for(lambda: len(request_signals) == 6, timeout=10, what="the signals")

    assert threads_started == []
    assert [name for name, _ in request_signals] == ["started", "finished"] * 3


def test_a_v1_call_with_sync_code_finishes_in_that_codes_thread(
    live_asgi, catalogue_tx, monkeypatch, request_signals
):
    raw = f"{API_KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
    owner = UserFactory()
    subscription_row(user=owner, plan="starter")
    ApiKey.objects.create(
        user=owner, name="lean", prefix=raw[4:12], hashed_key=api_key_hash(raw)
    )
    sync_threads: list[str] = []
    real = selectors.agent_list_for_user

    def spy(**kwargs):  # /v1/models lists agents in a thread (sync_to_async)
        sync_threads.append(threading.current_thread().name)
        return real(**kwargs)

    monkeypatch.setattr(selectors, "agent_list_for_user", spy)

    response = httpx.get(
        f"{live_asgi.http_url}/v1/models",
        headers={"Authorization": f"Bearer {raw}"},
        timeout=10,
    )

    assert response.status_code == 200
    assert len(sync_threads) == 1
    # request_finished (sent once the response is out) closes what that code
    # opened there: its database connection
    finished = wait_for(
        lambda: [t for name, t in request_signals if name == "finished"],
        timeout=10,
        what="request_finished",
    )
    assert finished == sync_threads
