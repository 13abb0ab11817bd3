"""The platform's processes behave as one system (uvicorn, Celery worker + beat).

Each test starts the real processes `make run` starts, on the database and Redis
this test run uses: on the embedded default they share var/ (disk cache, channel
relay, filesystem broker); with REDIS_URL and DATABASE_URL set, Redis and MariaDB.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from billing.models import Plan, Subscription
from billing.tests.factories import ls_subscription
from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.testing.payments import LEMONSQUEEZY_WEBHOOK_SECRET, LS_VARIANTS
from flowmatik.testing.platform import (
    celery_worker_process,
    platform_env,
    process_group_stop,
    wait_for,
)
from flowmatik.testing.processes import uvicorn_process
from flowmatik.ws_auth import CLOSE_UNAUTHENTICATED
from usage.models import UsageRecord
from webhooks_app.tests.helpers import lemonsqueezy_signature, ls_event

# Bounded per test; database setup (a first MariaDB migration) does not count
pytestmark = [pytest.mark.timeout(180, func_only=True)]


@pytest.fixture
def env(tmp_path, catalogue_tx, fake_lemonsqueezy, demo_server) -> dict[str, str]:
    variants = {
        f"LEMONSQUEEZY_VARIANT_{slug.upper()}": variant
        for slug, variant in LS_VARIANTS.items()
    }
    return platform_env(
        workdir=tmp_path,
        AI_DEMO_BASE_URL=demo_server.base_url,
        LEMONSQUEEZY_WEBHOOK_SECRET=LEMONSQUEEZY_WEBHOOK_SECRET,
        LEMONSQUEEZY_API_KEY=fake_lemonsqueezy.api_key,
        LEMONSQUEEZY_STORE_ID=str(fake_lemonsqueezy.store_id),
        LEMONSQUEEZY_API_BASE=f"{fake_lemonsqueezy.url}/v1",
        LEMONSQUEEZY_TEST_MODE="true",
        **variants,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _pro_subscription_created(user) -> tuple[str, dict[str, str]]:
    data = ls_subscription(
        sub_id=f"ls-{user.pk}", status="active", variant_id=LS_VARIANTS["pro"]
    )
    body = json.dumps(
        ls_event("subscription_created", data, custom_data={"user_id": str(user.pk)})
    )
    headers = {
        "Content-Type": "application/json",
        "X-Signature": lemonsqueezy_signature(body, LEMONSQUEEZY_WEBHOOK_SECRET),
        "X-Event-Name": "subscription_created",
    }
    return body, headers


def _live_subscription(user) -> bool:
    return Subscription.objects.filter(
        user=user, plan__slug="pro", status="active"
    ).exists()


def test_a_payment_processed_by_the_worker_lets_a_new_api_key_in_with_pros_quota(
    tmp_path, env
):
    user = UserFactory()
    token = jwt_for(user)
    free, pro = Plan.objects.get(slug="free"), Plan.objects.get(slug="pro")
    with (
        uvicorn_process(workdir=tmp_path, env=env) as web,
        celery_worker_process(workdir=tmp_path, env=env),
        httpx.Client(base_url=web.http_url, timeout=30) as http,
    ):
        # The web process reads (and caches) the Free plan: no API keys on Free.
        before = http.post(
            "/api/ai/chat", json={"message": "hello"}, headers=_bearer(token)
        )
        assert before.status_code == 200, before.text
        assert before.headers["X-RateLimit-Limit-Requests"] == str(
            free.requests_per_day
        )
        refused = http.post(
            "/api/auth/api-keys", json={"name": "early"}, headers=_bearer(token)
        )
        assert refused.status_code == 403

        body, headers = _pro_subscription_created(user)
        assert http.post(
            "/api/webhooks/lemonsqueezy", content=body, headers=headers
        ).status_code in (200, 202)
        wait_for(lambda: _live_subscription(user), timeout=60, what="the worker")

        created = http.post(
            "/api/auth/api-keys", json={"name": "paid"}, headers=_bearer(token)
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]
        answer = http.post(
            "/v1/chat/completions",
            json={
                "model": "flowmatik-demo",
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers=_bearer(key),
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-RateLimit-Limit-Requests"] == str(pro.requests_per_day)


def test_a_notification_created_in_the_worker_arrives_on_an_open_socket(tmp_path, env):
    user = UserFactory()
    token = jwt_for(user)
    with (
        uvicorn_process(workdir=tmp_path, env=env) as web,
        celery_worker_process(workdir=tmp_path, env=env),
        connect(
            f"ws://127.0.0.1:{web.port}/ws/notifications/",
            subprotocols=["bearer", token],
            origin="http://127.0.0.1",
            open_timeout=30,
        ) as socket,
    ):
        body, headers = _pro_subscription_created(user)
        response = httpx.post(
            f"{web.http_url}/api/webhooks/lemonsqueezy",
            content=body,
            headers=headers,
            timeout=30,
        )
        assert response.status_code in (200, 202)

        deadline = time.monotonic() + 60
        frame: dict = {}
        while frame.get("type") != "notification":
            left = deadline - time.monotonic()
            assert left > 0, "no notification frame within 60 s"
            frame = json.loads(socket.recv(timeout=left))
        assert frame["kind"] == "subscription.changed"
        assert frame["data"]["plan"] == "pro"
        assert user.notifications.filter(pk=frame["id"]).exists()


def test_a_logout_or_key_revocation_in_one_web_process_holds_in_another(tmp_path, env):
    user = UserFactory()
    key = api_key_for(user, plan="pro")
    key_id = user.api_keys.get().pk
    # The processes run the production hasher list (the suite's MD5 is not in it)
    user.password = make_password(DEFAULT_PASSWORD, hasher="argon2")
    user.save(update_fields=["password"])
    with (
        uvicorn_process(workdir=tmp_path, env=env, name="web-a") as web_a,
        uvicorn_process(workdir=tmp_path, env=env, name="web-b") as web_b,
        httpx.Client(timeout=30) as http,
    ):
        login = http.post(
            f"{web_a.http_url}/api/auth/login",
            json={"email": user.email, "password": DEFAULT_PASSWORD},
        )
        assert login.status_code == 200, login.text
        access, refresh = login.json()["access"], login.json()["refresh"]
        me_b = f"{web_b.http_url}/api/auth/me"
        assert http.get(me_b, headers=_bearer(access)).status_code == 200

        logout = http.post(
            f"{web_a.http_url}/api/auth/logout",
            json={"refresh": refresh},
            headers=_bearer(access),
        )
        assert logout.status_code in (200, 204), logout.text

        assert http.get(me_b, headers=_bearer(access)).status_code == 401

        # The key is cached as live in B; A revokes it; B refuses it at once.
        models_b = f"{web_b.http_url}/v1/models"
        assert http.get(models_b, headers=_bearer(key)).status_code == 200
        fresh = http.post(
            f"{web_a.http_url}/api/auth/login",
            json={"email": user.email, "password": DEFAULT_PASSWORD},
        ).json()["access"]
        revoked = http.delete(
            f"{web_a.http_url}/api/auth/api-keys/{key_id}", headers=_bearer(fresh)
        )
        assert revoked.status_code in (200, 204), revoked.text
        assert http.get(models_b, headers=_bearer(key)).status_code == 401


def _read_until_closed(socket) -> None:
    while True:
        socket.recv(timeout=30)


def test_a_password_change_in_one_web_process_closes_sockets_open_in_another(
    tmp_path, env
):
    user = UserFactory()
    user.password = make_password(DEFAULT_PASSWORD, hasher="argon2")
    user.save(update_fields=["password"])
    token = jwt_for(user)
    with (
        uvicorn_process(workdir=tmp_path, env=env, name="web-a") as web_a,
        uvicorn_process(workdir=tmp_path, env=env, name="web-b") as web_b,
        connect(
            f"ws://127.0.0.1:{web_b.port}/ws/notifications/",
            subprotocols=["bearer", token],
            origin="http://127.0.0.1",
            open_timeout=30,
        ) as socket_b,
    ):
        socket_b.send(json.dumps({"type": "ping"}))
        assert json.loads(socket_b.recv(timeout=30)) == {"type": "pong"}
        changed = httpx.post(
            f"{web_a.http_url}/api/auth/change-password",
            json={
                "current_password": DEFAULT_PASSWORD,
                "new_password": "N3w-pass-phrase!",
            },
            headers=_bearer(token),
            timeout=30,
        )
        assert changed.status_code == 200, changed.text
        with pytest.raises(ConnectionClosed) as closed:
            _read_until_closed(socket_b)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            CLOSE_UNAUTHENTICATED,
            "password changed",
        )


# --- `make run` itself (scripts/run-platform.sh) -----------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _run_platform(env: dict[str, str], port: int, log: Path):
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own script
            ["bash", "scripts/run-platform.sh", "127.0.0.1", str(port)],  # noqa: S607
            cwd=settings.BASE_DIR,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            process_group_stop(process)


def test_make_run_runs_beat_and_usage_reaches_the_database(tmp_path, env):
    """`make run` on this run's stack (in CI: REDIS_URL + DATABASE_URL, where beat
    used to die for want of var/celery): beat's heartbeat shows on /health and the
    usage of calls (buffered in Redis) reaches the database within the drain
    interval."""
    env = {
        **env,
        "AI_DEMO_PORT": str(_free_port()),
        "USAGE_DRAIN_INTERVAL_SECONDS": "1",
        "BEAT_HEARTBEAT_SECONDS": "1",
    }
    env.pop("AI_DEMO_BASE_URL")  # make run starts its own demo model
    assert not (tmp_path / "celery").exists()
    user = UserFactory()
    key = api_key_for(user, plan="pro")
    port = _free_port()
    with (
        _run_platform(env, port, tmp_path / "make-run.log") as process,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):

        def beat_alive():
            assert process.poll() is None, (tmp_path / "make-run.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                health = http.get("/health").json()
                return health["checks"]["beat"]["status"] == "ok"
            return False

        wait_for(beat_alive, timeout=90, what="beat's heartbeat on /health")
        calls = 20
        for n in range(calls):
            answer = http.post(
                "/v1/chat/completions",
                json={
                    "model": "flowmatik-demo",
                    "messages": [{"role": "user", "content": f"call {n}"}],
                },
                headers=_bearer(key),
            )
            assert answer.status_code == 200, answer.text
        wait_for(
            lambda: UsageRecord.objects.filter(user=user).count() == calls,
            timeout=15,
            what="usage records drained by beat",
        )
    assert "FileNotFoundError" not in (tmp_path / "make-run.log").read_text()


def test_make_run_says_what_to_set_when_the_demo_model_port_is_taken(tmp_path, env):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        started = time.monotonic()
        with _run_platform(
            {**env, "AI_DEMO_PORT": str(taken)}, _free_port(), tmp_path / "run.log"
        ) as process:
            process.wait(timeout=60)
        output = (tmp_path / "run.log").read_text()
    assert process.returncode == 1
    assert time.monotonic() - started < 60
    assert f"error: the demo model's port {taken} (127.0.0.1) is taken" in output
    assert "AI_DEMO_PORT" in output


def test_a_taken_default_demo_model_port_is_replaced_by_a_free_one():
    """When nobody chose the port, `make run` picks a free one and passes it on."""
    default = settings.AI_DEMO_PORT
    env = {k: v for k, v in os.environ.items() if not k.startswith("AI_DEMO_")}
    env |= {"FLOWMATIK_READ_DOT_ENV": "false"}
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # already taken (another checkout): fine
            held.bind(("127.0.0.1", default))
            held.listen()
        answer = subprocess.run(  # noqa: S603
            [sys.executable, "scripts/ports.py", "127.0.0.1", str(_free_port())],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    values = dict(line.split("=", 1) for line in answer.stdout.splitlines())
    assert values["WEB_PORT_BUSY"] == "0"
    assert values["DEMO_PORT"].isdigit()
    assert int(values["DEMO_PORT"]) != default
    assert "using" in values["DEMO_NOTE"]
