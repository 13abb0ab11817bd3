"""Fixtures of the ai tests: the demo model and the platform served over real HTTP.

The demo model (our OpenAI-compatible server) runs in uvicorn on 127.0.0.1 for the
whole session; every test points the `demo` provider at it, so the real `openai`
client code runs. `live_asgi` serves `flowmatik.asgi.application` the same way.
"""

import socket
import threading
import time
from dataclasses import dataclass

import pytest
import uvicorn

from ai.demo.app import DemoState, create_app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="critical",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@dataclass
class Demo:
    url: str
    state: DemoState

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def chat_calls(self) -> list[dict]:
        return [e for e in self.state.log if e["path"] == "/v1/chat/completions"]


@pytest.fixture(scope="session")
def demo_server():
    app = create_app()
    server, thread, url = _serve(app)
    yield Demo(url, app.state.demo)
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _ai_settings(settings, demo_server, monkeypatch):
    """No real provider keys; the demo provider answers; retries back off fast."""
    from ai.providers import chat as provider_chat

    settings.AI_DEMO_BASE_URL = demo_server.base_url
    settings.SILICONFLOW_API_KEY = ""
    settings.DOUBAO_API_KEY = ""
    settings.OPENAI_API_KEY = ""
    settings.AI_EXTRA_PROVIDERS = {}
    settings.AI_DEFAULT_MODEL = ""
    settings.AI_MAX_RETRIES = 2
    settings.AI_REQUEST_TIMEOUT_SECONDS = 5.0
    settings.AI_CIRCUIT_FAILURE_THRESHOLD = 5
    settings.AI_CIRCUIT_RESET_SECONDS = 30
    settings.RATELIMIT_ENABLE = False
    monkeypatch.setattr(provider_chat, "RETRY_BASE_SECONDS", 0.01)
    demo_server.state.log.clear()
    demo_server.state.seen.clear()
    demo_server.state.disconnects = 0


def _seed() -> None:
    from ai.selectors import catalogue_invalidate
    from ai.services import model_seed_defaults
    from billing.services import plan_seed_defaults

    plan_seed_defaults()
    model_seed_defaults()
    catalogue_invalidate()


@pytest.fixture
def catalogue(db):
    """Plans and the seeded model catalogue (flushed by earlier transactional tests)."""
    _seed()


@pytest.fixture
def catalogue_tx(transactional_db):
    _seed()


@pytest.fixture(scope="session")
def live_asgi(django_db_setup, django_db_blocker):
    """The whole platform in uvicorn on 127.0.0.1 (tests use `transactional_db`)."""
    from flowmatik.asgi import application

    server, thread, url = _serve(application)
    yield url
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def settle_spy(monkeypatch):
    """Every `usage_settle` call (the real one still runs)."""
    from usage import services as usage_services

    calls = []
    real = usage_services.usage_settle

    async def spy(*, reservation, event):
        calls.append(event)
        return await real(reservation=reservation, event=event)

    monkeypatch.setattr(usage_services, "usage_settle", spy)
    return calls


def jwt_for(user) -> str:
    from rest_framework_simplejwt.tokens import AccessToken

    return str(AccessToken.for_user(user))


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
