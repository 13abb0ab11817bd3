"""Fixtures shared by every app's tests: API clients and users."""

import os
import shutil
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory

# The one test-support plugin: live servers, the demo model, credentials, fake
# payment providers and the seed rows (flowmatik/testing/).
pytest_plugins = ["flowmatik.testing.plugin"]


def pytest_configure(config):
    """On the embedded default (SQLite) build test tables straight from the models.

    Migrations (dj-stripe's above all) take minutes on SQLite; CI runs the suite on
    MariaDB with every migration applied, and `_seed_data` below adds the seed rows.
    """
    if not os.environ.get("DATABASE_URL", "").startswith(("mysql", "postgres")):
        config.option.nomigrations = True


def pytest_unconfigure(config):
    for leftover in Path("var").glob(f"test-{os.getpid()}*.sqlite3*"):
        leftover.unlink(missing_ok=True)
    for folder in ("cache", "channels"):
        shutil.rmtree(Path("var") / f"test-{os.getpid()}-{folder}", ignore_errors=True)


def _uses_transactional_db(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    wants_transaction = bool(marker and marker.kwargs.get("transaction"))
    return wants_transaction or bool(
        {"transactional_db", "live_server", "live_asgi"} & set(request.fixturenames)
    )


@pytest.fixture(autouse=True)
def _seed_data(request):
    """Seed rows (plans, AI models) exist in every test that touches the database.

    Data migrations create them once, but a `transactional_db` test truncates every
    table when it ends; the seeders are idempotent, so this puts them back.
    """
    names = set(request.fixturenames)
    if not (request.node.get_closest_marker("django_db") or {"db"} & names) and not (
        _uses_transactional_db(request)
    ):
        return
    request.getfixturevalue(
        "transactional_db" if _uses_transactional_db(request) else "db"
    )
    from billing.models import Plan

    if not Plan.objects.exists():
        from flowmatik.testing.plugin import seed_rows

        seed_rows()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def auth_client(user) -> APIClient:
    """An API client authenticated as `user` (force_authenticate: no JWT round trip)."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=staff_user)
    return client


@pytest.fixture(autouse=True)
def _isolated_cache():
    """Each test starts with an empty cache (quotas, rate limits, identities)."""
    from django.core.cache import cache

    from ai.providers.circuit import circuit_stats_reset

    cache.clear()
    circuit_stats_reset()
    yield
    cache.clear()
    circuit_stats_reset()


@pytest.fixture
def redis_url() -> str:
    """REDIS_URL; tests needing a real Redis skip without one (CI sets it)."""
    import os

    import redis

    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("needs REDIS_URL (set in CI)")
    redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    return url


@pytest.fixture
def on_mysql(db) -> bool:
    from django.db import connection

    return connection.vendor == "mysql"


@pytest.fixture
def isolated_metrics(settings, tmp_path):
    """A metrics store of this test's own (a fresh SQLite file, or a fresh Redis
    prefix when REDIS_URL is set); returns it."""
    import uuid

    from flowmatik.metrics import metrics_reset, metrics_store

    settings.METRICS_STORE_PATH = str(tmp_path / "metrics.sqlite3")
    settings.METRICS_REDIS_PREFIX = f"fmk:test-metrics:{uuid.uuid4().hex}"
    # Metrics give up on a slow Redis (0.25 s) and pause writing for a while; on a
    # loaded CI machine one slow write would drop the rest of a test's figures.
    settings.METRICS_REDIS_TIMEOUT_SECONDS = 5.0
    metrics_reset()
    store = metrics_store()
    yield store
    if settings.REDIS_URL:
        store.clear()
    metrics_reset()
