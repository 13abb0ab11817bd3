"""The pytest plugin every app's tests share (registered by the root conftest).

Fixtures: `demo_server` (the demo model over HTTP) and `ai_demo` (the `demo`
provider pointed at it), `live_asgi` (the platform in uvicorn),
`fresh_channel_layers`, `jwt_for` / `api_key_for`, `catalogue` / `catalogue_tx`
(seed rows), `eager_celery`, `flaky_smtp`, the fake payment providers
`fake_stripe` / `fake_lemonsqueezy` with `billing_prices` and `webhook_secrets`,
and (from flowmatik/testing/mcp_server.py) the MCP test server `mcp_server` /
`mcp_record`. flowmatik/testing/secret_scan.py fails the run when a credential the
tests were issued shows up in a log line.
"""

from dataclasses import dataclass

import pytest

from flowmatik.testing import auth
from flowmatik.testing.payments import (
    LEMONSQUEEZY_WEBHOOK_SECRET,
    LS_VARIANTS,
    PLAN_CENTS,
    STRIPE_PRICES,
    STRIPE_WEBHOOK_SECRET,
)
from flowmatik.testing.servers import LiveAsgiServer

# Fixture modules of their own, registered with this plugin.
pytest_plugins = [
    "flowmatik.testing.mcp_server",
    "flowmatik.testing.secret_scan",
    "flowmatik.testing.browser",
]


def pytest_sessionstart(session) -> None:
    """Compile locale/*/LC_MESSAGES/django.po into .mo where the .mo is missing or
    older (as `make setup` does), so `pytest` run directly speaks Spanish too."""
    import shutil
    import subprocess
    from pathlib import Path

    from django.conf import settings

    msgfmt = shutil.which("msgfmt")
    for locale_dir in getattr(settings, "LOCALE_PATHS", []):
        for po in Path(locale_dir).glob("*/LC_MESSAGES/*.po"):
            mo = po.with_suffix(".mo")
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            if msgfmt is None:
                raise pytest.UsageError(
                    f"{mo} is missing or stale and msgfmt is not installed "
                    "(Debian: apt-get install gettext; then `make setup`)"
                )
            subprocess.run(  # noqa: S603 - msgfmt, as Django's compilemessages runs it
                [msgfmt, "--check-format", "-o", str(mo), str(po)], check=True
            )


def seed_rows() -> None:
    """The seed rows (plans, AI models), through `manage.py seed`'s own seeders.

    Data migrations create them once, but a `transactional_db` test truncates every
    table when it ends, and `--nomigrations` never runs them; seeders are idempotent.
    """
    from django.core.management import call_command

    from ai.selectors import catalogue_invalidate

    call_command("seed", verbosity=0)
    catalogue_invalidate()


@pytest.fixture(autouse=True)
def _no_request_context():
    """Each test starts, and ends, outside any request: no request or user id is
    left in this thread by an earlier test (the test client runs views in the
    test's own thread, and a streamed response ends after the middleware ran)."""
    from flowmatik.request_context import request_id_var, user_id_var

    request_id_var.set(None)
    user_id_var.set(None)
    yield
    request_id_var.set(None)
    user_id_var.set(None)


@pytest.fixture(autouse=True)
def _own_quota_state():
    """Each test meters quotas on Redis keys of its own, with no Redis client,
    back-off window (`mark_down`) or last-seen counters left by an earlier test.

    User ids repeat across transactional tests (MariaDB's TRUNCATE resets
    AUTO_INCREMENT), and the session's live server runs in this process: a back-off
    left by one test made the next test's per-minute limits fall back to the
    in-process limiter, which does not know what Redis had counted.
    (`override_settings`, not the `settings` fixture: that one would then be
    restored only after the root conftest's cache teardown.)
    """
    import uuid

    from django.conf import settings
    from django.test import override_settings

    from usage import quota_redis

    prefix = f"fmk:qtest:{uuid.uuid4().hex[:12]}"
    quota_redis.reset_state()
    with override_settings(QUOTA_REDIS_PREFIX=prefix):
        yield
        url = settings.REDIS_URL
    if url:
        _delete_prefix(url, prefix)
    quota_redis.reset_state()


def _delete_prefix(url: str, prefix: str) -> None:
    """Delete this test's quota keys (only its own prefix: never a FLUSHDB)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    except (redis.RedisError, OSError):
        pass  # a test that stopped Redis on purpose; its prefix is never reused
    finally:
        client.close()


# --- the demo model and the live platform ---


@dataclass
class Demo:
    server: LiveAsgiServer
    state: object  # ai.demo.app.DemoState

    @property
    def url(self) -> str:
        return self.server.http_url

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def chat_calls(self) -> list[dict]:
        return [e for e in self.state.log if e["path"] == "/v1/chat/completions"]


@pytest.fixture(scope="session")
def demo_server():
    """Our OpenAI-compatible demo model, served over real HTTP for the session."""
    from ai.demo.app import create_app

    app = create_app()
    server = LiveAsgiServer(app, log_level="critical").start()
    yield Demo(server, app.state.demo)
    server.stop()


@pytest.fixture
def ai_demo(settings, demo_server, monkeypatch):
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
    return demo_server


@pytest.fixture(scope="session")
def _live_asgi_server(django_db_setup, django_db_blocker):
    from flowmatik.asgi import application

    server = LiveAsgiServer(application).start()
    yield server
    server.stop()


@pytest.fixture
def live_asgi(_live_asgi_server, transactional_db) -> LiveAsgiServer:
    """The whole platform (`flowmatik.asgi.application`) in uvicorn on 127.0.0.1.

    One server for the session; each test using it gets a transactional database
    the server's threads can see. `http_url`, `ws_url`, `run_in_server(fn)`.
    """
    return _live_asgi_server


@pytest.fixture
def fresh_channel_layers():
    """New channel-layer objects for the test (groups of old tests do not leak)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def catalogue(db):
    """Plans and the seeded model catalogue, with the catalogue cache reset."""
    seed_rows()


@pytest.fixture
def catalogue_tx(transactional_db):
    seed_rows()


# --- Celery ---


@pytest.fixture
def eager_celery():
    """Run tasks inline when they are enqueued (after commit); errors propagate."""
    from flowmatik.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def flaky_smtp(settings):
    """E-mail goes to `mail.outbox`; `flaky_smtp.failures = n` makes the next n
    sends fail as a dropped SMTP connection; `flaky_smtp.attempts` counts sends."""
    from flowmatik.testing.mail import FlakyEmailBackend

    settings.EMAIL_BACKEND = "flowmatik.testing.mail.FlakyEmailBackend"
    FlakyEmailBackend.failures = FlakyEmailBackend.attempts = 0
    yield FlakyEmailBackend
    FlakyEmailBackend.failures = FlakyEmailBackend.attempts = 0


# --- credentials ---


@pytest.fixture(name="jwt_for")
def _jwt_for():
    """`jwt_for(user, lifetime=None)` -> an access token."""
    return auth.jwt_for


@pytest.fixture(name="api_key_for")
def _api_key_for(db):
    """`api_key_for(user, plan="starter", **fields)` -> a raw `fmk_...` key."""
    return auth.api_key_for


# --- payment providers ---


@pytest.fixture
def billing_prices(settings):
    """Price ids for every paid plan, from the environment settings."""
    settings.BILLING_STRIPE_PRICE_IDS = dict(STRIPE_PRICES)
    settings.BILLING_LEMONSQUEEZY_VARIANT_IDS = dict(LS_VARIANTS)
    return settings


@pytest.fixture
def webhook_secrets(settings):
    """The webhook signing secrets the test deliveries are signed with."""
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
    settings.LEMONSQUEEZY_WEBHOOK_SECRET = LEMONSQUEEZY_WEBHOOK_SECRET
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 300
    settings.LEMONSQUEEZY_TEST_MODE = True
    return settings


@pytest.fixture
def fake_stripe(settings, billing_prices, webhook_secrets):
    """A running fake Stripe; our settings (key, base, prices) point at it."""
    from billing.providers import stripe as stripe_provider
    from flowmatik.testing.fake_stripe import FakeStripe

    server = FakeStripe().start()
    for slug, price_id in STRIPE_PRICES.items():
        server.add_price(price_id, PLAN_CENTS[slug])
    settings.STRIPE_SECRET_KEY = server.api_key
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_TIMEOUT_SECONDS = 2.0
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    try:
        yield server
    finally:
        server.stop()
        stripe_provider.library_reset()


@pytest.fixture
def fake_lemonsqueezy(settings, billing_prices, webhook_secrets):
    """A running fake LemonSqueezy; our settings (key, store, variants) use it."""
    from flowmatik.testing.fake_lemonsqueezy import FakeLemonSqueezy

    server = FakeLemonSqueezy().start()
    for slug, variant_id in LS_VARIANTS.items():
        server.add_variant(variant_id, PLAN_CENTS[slug], name=slug.title())
    settings.LEMONSQUEEZY_API_KEY = server.api_key
    settings.LEMONSQUEEZY_STORE_ID = server.store_id
    settings.LEMONSQUEEZY_API_BASE = f"{server.url}/v1"
    settings.LEMONSQUEEZY_TIMEOUT_SECONDS = 2.0
    settings.LEMONSQUEEZY_MAX_RETRIES = 2
    settings.LEMONSQUEEZY_RETRY_BACKOFF_SECONDS = 0.01
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sync_middleware_hops(monkeypatch) -> list[str]:
    """Each sync-only middleware run on the async stack (a thread hop or two)."""
    hops: list[str] = []
    from django.utils.deprecation import MiddlewareMixin

    real = MiddlewareMixin.__acall__

    async def spy(self, request):
        hops.append(type(self).__name__)
        return await real(self, request)

    monkeypatch.setattr(MiddlewareMixin, "__acall__", spy)
    return hops
