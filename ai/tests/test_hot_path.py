"""The AI request path's cost: no query, no blocking cache call on the event loop,
no cache write per successful provider call."""

import asyncio
import re
import secrets
import threading
import time

import httpx
import pytest
from django.core.cache import cache
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from accounts.credentials import API_KEY_PREFIX, api_key_cache_key, api_key_hash
from accounts.models import ApiKey
from accounts.tests.factories import UserFactory
from ai.providers.circuit import FLUSHER_THREAD_NAME as CIRCUIT_STATS_THREAD
from ai.providers.circuit import CircuitTicket, circuit_record_success, circuit_status
from billing.tests.factories import subscription_row
from flowmatik import cache_local
from flowmatik.metrics.buffer import THREAD_NAME as METRICS_FLUSHER_THREAD
from flowmatik.testing.platform import wait_for
from flowmatik.versioned_cache import token_key as token_key_of
from usage.models import UsageRecord
from usage.record_writer import THREAD_NAME as RECORD_WRITER_THREAD

_CACHE_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many")


@pytest.fixture
def blocking_cache_calls(monkeypatch) -> list[str]:
    """Synchronous Django-cache calls made on a thread running an event loop (in
    any thread of this process: the live server's too)."""
    backend = type(cache._connections[cache._alias])  # the configured backend class
    calls: list[str] = []
    for name in _CACHE_CALLS:
        real = getattr(backend, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            if asyncio._get_running_loop() is not None:
                calls.append(f"{_name}({args[0]!r})")
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(backend, name, spy)
    return calls


@pytest.fixture
def queries(monkeypatch) -> list[str]:
    """Every SQL statement run by this process, whichever thread runs it, but the
    background usage-record writer's (off the request path, `usage.record_writer`)."""
    from usage.record_writer import THREAD_NAME

    seen: list[str] = []
    for name in ("execute", "executemany"):
        real = getattr(CursorWrapper, name)

        def spy(self, sql, *args, _real=real, **kwargs):
            if threading.current_thread().name != THREAD_NAME:
                seen.append(sql)
            return _real(self, sql, *args, **kwargs)

        monkeypatch.setattr(CursorWrapper, name, spy)
    return seen


@pytest.fixture
def starter_key(catalogue_tx) -> str:
    raw = f"{API_KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
    owner = UserFactory()
    subscription_row(user=owner, plan="starter")
    ApiKey.objects.create(
        user=owner, name="hot", prefix=raw[4:12], hashed_key=api_key_hash(raw)
    )
    return raw


def _completion(base: str, key: str, n: int) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "model": "flowmatik-demo",
            "messages": [{"role": "user", "content": f"tagline {n}"}],
            "max_tokens": 16,
        },
        timeout=15,
    )


def test_a_warm_chat_completion_runs_no_query_and_no_blocking_cache_call(
    redis_url,
    live_asgi,
    starter_key,
    settings,
    blocking_cache_calls,
    queries,
):
    # The provider's health figures are written once per interval; not in this one.
    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 3600
    settings.REDIS_URL = redis_url
    settings.USAGE_RECORD_FLUSH_MS = 50  # records by the background writer, as deployed
    for n in range(2):  # warm: identity, plan, override, catalogue, clients
        assert _completion(live_asgi.http_url, starter_key, n).status_code == 200
    blocking_cache_calls.clear()
    queries.clear()

    response = _completion(live_asgi.http_url, starter_key, 2)

    assert response.status_code == 200, response.text
    assert "tagline 2" in response.json()["choices"][0]["message"]["content"]
    # auth, plan, override, catalogue, admission: cached; settlement: Redis only
    assert queries == []
    assert blocking_cache_calls == []
    # Its usage record is stored all the same, by the writer, within a flush or two.
    wait_for(
        lambda: UsageRecord.objects.filter(
            request_id=response.headers["X-Request-ID"]
        ).exists(),
        timeout=5,
        what="the call's usage record",
    )


def test_successful_calls_leave_the_provider_figures_to_the_background_thread(
    settings, monkeypatch
):
    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 60
    writes: list[str] = []
    real_set = type(cache._connections[cache._alias]).set
    caller = threading.current_thread()

    def counting_set(self, key, *args, **kwargs):
        if threading.current_thread() is caller:
            writes.append(key)
        return real_set(self, key, *args, **kwargs)

    monkeypatch.setattr(type(cache._connections[cache._alias]), "set", counting_set)
    ticket = CircuitTicket("demo", failures=0, half_open=False)
    for latency in (10, 20, 30, 40):
        circuit_record_success(ticket, latency_ms=latency)

    assert writes == []  # no cache round trip in the call's own thread
    status = circuit_status("demo")  # a status read writes what is pending first
    assert status["recent_calls"] == 4
    assert status["recent_latency_ms_p50"] == 30
    assert status["circuit"] == "closed"


def test_the_provider_figures_are_written_within_the_interval(settings):
    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 0.1
    ticket = CircuitTicket("demo", failures=0, half_open=False)

    circuit_record_success(ticket, latency_ms=12)

    wait_for(
        lambda: len((cache.get("ai:stats:demo") or {"recent": []})["recent"]) == 1,
        timeout=5,
        what="the figures written by the process's thread",
    )


# Threads of their own, never working for one request: the usage-record writer
# (records in batches), the metrics flusher (summed counters), the providers'
# health figures' writer, the cache copies' listener
BACKGROUND_THREADS = (
    RECORD_WRITER_THREAD,
    METRICS_FLUSHER_THREAD,
    CIRCUIT_STATS_THREAD,
    cache_local.THREAD_NAME,  # its PINGs, when idle
)


@pytest.fixture
def redis_round_trips(monkeypatch) -> list[str]:
    """Every round trip this process makes to Redis for requests, from any client
    (the sync django-redis one and `redis.asyncio`'s) in any thread but the
    background writers': one `send_packed_command` each (a pipeline, MGET or script
    call sends all its commands at once), as the bench's counter
    (`bench/instrument/sitecustomize.py`) counts them. The commands of each."""
    import redis.asyncio.connection as async_connection
    import redis.connection as sync_connection

    trips: list[str] = []
    for module in (sync_connection, async_connection):
        real = module.AbstractConnection.send_packed_command

        def spy(self, command, *args, _real=real, **kwargs):
            if not threading.current_thread().name.startswith(BACKGROUND_THREADS):
                parts = command if isinstance(command, list) else [command]
                packed = b"".join(bytes(part[:200]) for part in parts)
                names = re.findall(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n", packed)
                trips.append(" ".join(name.decode().upper() for name in names))
            return _real(self, command, *args, **kwargs)

        monkeypatch.setattr(module.AbstractConnection, "send_packed_command", spy)
    return trips


def _warm(base: str, key: str, trips: list[str] | None = None) -> None:
    """Calls until the cache entries a call reads are this process's copies:
    identity, plan, override, catalogue and clients loaded, the listener of the
    cache's changes subscribed (`flowmatik.cache_local`), and the announcements of
    the entries written on the way heard. With `trips` (the round-trip spy): until
    a call reads none from Redis."""
    for n in range(2):
        assert _completion(base, key, n).status_code == 200
    wait_for(cache_local.copies_listening, timeout=5, what="the cache's changes")
    for n in range(10):
        if trips is not None:
            trips.clear()
        assert _completion(base, key, 10 + n).status_code == 200
        if trips is None and n == 2:
            return
        if trips is not None and "MGET" not in trips:
            return
        time.sleep(0.05)
    raise AssertionError(f"every warm call read from Redis: {trips}")


def test_a_warm_chat_completion_is_an_admission_and_a_settlement(
    redis_url, live_asgi, starter_key, settings, redis_round_trips, queries
):
    # Identity, plan, quota override, catalogue version and circuit state: this
    # process's copies, kept exact by Redis's announcements (no round trip); the
    # quota admission and its settlement: one script each. The call's metrics are
    # summed in the process and written by the flusher; its record by the record
    # writer (both off the request).
    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 3600
    settings.REDIS_URL = redis_url
    settings.USAGE_RECORD_FLUSH_MS = 50
    _warm(live_asgi.http_url, starter_key, redis_round_trips)
    redis_round_trips.clear()
    queries.clear()

    response = _completion(live_asgi.http_url, starter_key, 2)

    assert response.status_code == 200, response.text
    assert redis_round_trips == ["EVALSHA", "EVALSHA"]  # six before
    assert queries == []


def test_without_copies_the_cached_state_is_one_read(
    redis_url, live_asgi, starter_key, settings, redis_round_trips
):
    # The key's owner is known from the earlier calls, so the owner's plan and
    # override ride with the key's own read: one MGET.
    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 3600
    settings.CACHE_LOCAL_COPY_SECONDS = 0
    for n in range(2):
        assert _completion(live_asgi.http_url, starter_key, n).status_code == 200
    redis_round_trips.clear()

    response = _completion(live_asgi.http_url, starter_key, 2)

    assert response.status_code == 200, response.text
    assert redis_round_trips == ["MGET", "EVALSHA", "EVALSHA"]


def test_a_key_revoked_here_is_refused_at_once(
    redis_url, live_asgi, starter_key, settings
):
    from accounts.services.api_keys import api_key_revoke

    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 3600
    _warm(live_asgi.http_url, starter_key)

    api_key_revoke(api_key=ApiKey.objects.get(hashed_key=api_key_hash(starter_key)))

    assert _completion(live_asgi.http_url, starter_key, 3).status_code == 401


def test_a_key_revoked_by_another_process_is_refused_within_moments(
    redis_url, live_asgi, starter_key, settings
):
    # Another process revokes: the row, then a new version token for the key's
    # cache entry, written by a Redis client of its own (not this process's cache).
    import redis

    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 3600
    _warm(live_asgi.http_url, starter_key)
    hashed = api_key_hash(starter_key)
    ApiKey.objects.filter(hashed_key=hashed).update(revoked_at=timezone.now())
    token_key = cache.client.make_key(token_key_of(api_key_cache_key(hashed)))
    other = redis.Redis.from_url(redis_url)
    other.set(token_key, cache.client.encode("revoked-elsewhere"))
    revoked_at = time.monotonic()

    wait_for(
        lambda: _completion(live_asgi.http_url, starter_key, 4).status_code == 401,
        timeout=3,
        what="the revocation heard",
    )

    assert time.monotonic() - revoked_at < 1.0


def test_the_metrics_of_a_call_are_recorded_once_flushed(
    redis_url, live_asgi, starter_key, settings, isolated_metrics
):
    settings.REDIS_URL = redis_url
    settings.METRICS_FLUSH_MS = 60_000  # only the reader's flush writes them
    from flowmatik.metrics import metrics_reset
    from flowmatik.metrics.windows import metrics_window

    metrics_reset()
    for n in range(3):
        assert _completion(live_asgi.http_url, starter_key, n).status_code == 200

    window = metrics_window(window="5m")  # writes this process's buffer first

    routes = {row["route"]: row for row in window["requests"]["endpoints"]}
    assert routes["v1/chat/completions"]["requests"] == 3
    assert window["ai"]["calls"] == 3


def test_a_completion_is_compact_utf8_json(live_asgi, starter_key):
    import orjson

    response = httpx.post(
        f"{live_asgi.http_url}/v1/chat/completions",
        headers={
            "Authorization": f"Bearer {starter_key}",
            "Content-Type": "application/json",
        },
        content=orjson.dumps(
            {
                "model": "flowmatik-demo",
                "messages": [{"role": "user", "content": "café ✓"}],
                "max_tokens": 16,
            }
        ),
        timeout=15,
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == orjson.dumps(response.json())  # no padding
    assert "café ✓".encode() in response.content  # UTF-8, not \u escapes
