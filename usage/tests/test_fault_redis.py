"""Redis killed mid-run and restarted empty, under the real platform processes.

Each test starts a redis-server of its own (free port, no persistence: it comes
back empty, as a crashed cache does), the web processes (uvicorn) and the Celery
worker against it and this run's database, and SIGKILLs Redis in the middle of a
burst of AI calls. What users see must stay correct: no 500, the daily quota never
over-admitted (across two web processes), every admitted call's usage record in
the database, and everything working again once Redis is back.
"""

import concurrent.futures
import json
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.faults import redis_server
from flowmatik.testing.platform import celery_worker_process, platform_env, wait_for
from flowmatik.testing.processes import uvicorn_process
from notifications.services import notification_send
from usage.models import UsageRecord
from usage.services import quota_override_set

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150, func_only=True)]

HOLD_SECONDS = 3  # QUOTA_FAILOVER_HOLD_SECONDS of the processes (the calls are short)


@pytest.fixture
def env(tmp_path, catalogue_tx, demo_server):
    return lambda redis_url: platform_env(
        workdir=tmp_path,
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=redis_url,
        AI_DEMO_BASE_URL=demo_server.base_url,
        QUOTA_REDIS_TIMEOUT_SECONDS="0.5",
        QUOTA_REDIS_RETRY_SECONDS="0.5",
        QUOTA_FAILOVER_HOLD_SECONDS=str(HOLD_SECONDS),
        REDIS_CONNECT_TIMEOUT="0.5",
        REDIS_SOCKET_TIMEOUT="0.5",
        USAGE_DRAIN_INTERVAL_SECONDS="1",
        RATELIMIT_AI_PER_USER="",
        RATELIMIT_AI_PER_IP="",
        AI_MAX_RETRIES="0",
    )


def _chat(http: httpx.Client, url: str, token: str, n: int) -> httpx.Response:
    return http.post(
        f"{url}/api/ai/chat",
        json={"message": f"call {n}", "max_tokens": 16},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_two_web_processes_never_over_admit_across_a_redis_crash_and_restart(
    tmp_path, env
):
    limit = 20
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=limit)
    token = jwt_for(user)
    statuses: list[int] = []
    bodies: list[str] = []
    lock = threading.Lock()
    with redis_server(tmp_path) as redis:
        env_ = env(redis.url)
        with (
            uvicorn_process(workdir=tmp_path, env=env_, name="web-a") as web_a,
            uvicorn_process(workdir=tmp_path, env=env_, name="web-b") as web_b,
            celery_worker_process(workdir=tmp_path, env=env_),
            httpx.Client(timeout=30) as http,
        ):
            urls = [web_a.http_url, web_b.http_url]

            def call(n: int) -> int:
                response = _chat(http, urls[n % 2], token, n)
                with lock:
                    statuses.append(response.status_code)
                    if response.status_code >= 500 and response.status_code != 503:
                        bodies.append(response.text)
                    if response.status_code == 503:
                        code = response.json()["error"]["code"]
                        assert code == "quota_unavailable", response.text
                        assert int(response.headers["Retry-After"]) >= 1
                return response.status_code

            def admitted() -> int:
                with lock:
                    return statuses.count(200)

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                # Half the quota on Redis, then Redis dies with calls in flight.
                burst = [pool.submit(call, n) for n in range(60)]
                wait_for(lambda: admitted() >= limit // 2, timeout=60, what="calls")
                redis.kill()
                killed_at = time.monotonic()
                for future in burst:
                    future.result()
                # The database fallback takes over after the hold: keep calling
                # until the quota is used up there.
                n = 60
                while time.monotonic() - killed_at < HOLD_SECONDS + 30:
                    n += 1
                    if call(n) == 429:
                        break
                    time.sleep(0.05)
                during = admitted()
                # Redis comes back empty: it must not start the user from zero.
                redis.start()
                time.sleep(HOLD_SECONDS + 1)
                after = list(pool.map(call, range(1000, 1016)))

    assert not bodies, bodies[:3]
    assert set(statuses) <= {200, 429, 503}, sorted(set(statuses))
    assert during == limit, f"{during} admitted before the restart, limit {limit}"
    assert after.count(200) == 0, f"{after.count(200)} more admitted after restart"
    assert set(after) == {429}, after
    # Every admitted call's usage is in the database (written through, none lost).
    wait_for(
        lambda: (
            UsageRecord.objects.filter(user=user, status="success").count() == limit
        ),
        timeout=20,
        what=f"{limit} usage records",
    )
    assert UsageRecord.objects.filter(user=user, status="success").count() == limit


def test_web_requests_and_sockets_survive_redis_going_away_and_coming_back(
    tmp_path, env, settings, fresh_channel_layers
):
    user = UserFactory()
    token = jwt_for(user)
    headers = {"Authorization": f"Bearer {token}"}
    with redis_server(tmp_path) as redis:
        env_ = env(redis.url)
        # This process pushes (notification_send) through the processes' Redis.
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [redis.url], "prefix": "fmk-asgi"},
            }
        }
        with (
            uvicorn_process(workdir=tmp_path, env=env_) as web,
            httpx.Client(base_url=web.http_url, timeout=30) as http,
        ):
            ws_url = f"ws://127.0.0.1:{web.port}/ws/notifications/"

            def socket():
                return connect(
                    ws_url,
                    subprotocols=["bearer", token],
                    origin="http://127.0.0.1",
                    open_timeout=15,
                )

            with socket() as ws:
                ws.send(json.dumps({"type": "ping"}))
                assert json.loads(ws.recv(timeout=10))["type"] == "pong"
                redis.kill()
                # Requests that read through the cache (identity, plan) go to the
                # database; the AI path answers (fallback after the hold) or 503.
                started = time.monotonic()
                me = http.get("/api/auth/me", headers=headers)
                assert me.status_code == 200, me.text
                assert (
                    http.get("/api/ai/usage/today", headers=headers).status_code == 200
                )
                chat = _chat(http, web.http_url, token, 1)
                assert chat.status_code in (200, 503), chat.text
                assert time.monotonic() - started < 10
                # The socket whose channel layer died is closed cleanly, soon.
                closed = _closed_within(ws, seconds=30)
                assert closed.rcvd is not None, "no close frame from the server"
                assert closed.rcvd.code == 1013  # try again later

            def chat_ok() -> bool:
                return _chat(http, web.http_url, token, 2).status_code == 200

            wait_for(chat_ok, timeout=HOLD_SECONDS + 20, what="the database fallback")

            redis.start()
            # Reconnect once Redis is back; a notification reaches the new socket.
            ws = wait_for(lambda: _try(socket), timeout=30, what="a reconnect")
            with ws:
                notification_send(
                    user=user, kind="subscription.changed", title="back", body=""
                )
                frame: dict = {}
                deadline = time.monotonic() + 20
                while frame.get("type") != "notification":
                    frame = json.loads(ws.recv(timeout=deadline - time.monotonic()))
                assert frame["title"] == "back"
            wait_for(chat_ok, timeout=HOLD_SECONDS + 20, what="calls after restart")
            assert http.get("/health").status_code == 200
    assert "Internal Server Error" not in web.output()


def _closed_within(ws, *, seconds: float) -> ConnectionClosed:
    """Ping until the server closes the socket; the close it sent."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.send(json.dumps({"type": "ping"}))
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            time.sleep(0.5)
    except ConnectionClosed as closed:
        return closed
    raise AssertionError(f"the socket stayed open {seconds} s after Redis died")


def _try(factory):
    try:
        return factory()
    except (OSError, ConnectionClosed, TimeoutError) as exc:
        del exc
        return None
