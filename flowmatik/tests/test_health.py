"""`GET /health`: the design document's shape, plus checks; 503 when the DB is down."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import OperationalError, connection
from django.utils import timezone

from flowmatik.health import beat_heartbeat_record


@pytest.mark.django_db
def test_health_has_the_documented_shape(client, settings):
    beat_heartbeat_record()
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == settings.APP_VERSION
    assert body["environment"] == settings.ENVIRONMENT
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert set(body["checks"]) == {"database", "cache", "broker", "beat"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.mark.django_db
def test_health_is_503_unhealthy_naming_the_database_when_it_is_unreachable(
    client, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise OperationalError('(2003, "Can\'t connect to MySQL server")')

    beat_heartbeat_record()
    monkeypatch.setattr(connection, "cursor", unreachable)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert body["failing"] == ["database"]
    assert "Can't connect" not in response.content.decode()


@pytest.mark.django_db
def test_health_is_degraded_but_200_when_only_the_cache_fails(client, monkeypatch):
    from flowmatik import health

    def broken_cache():
        raise ConnectionError("redis down")

    beat_heartbeat_record()
    monkeypatch.setitem(health.CHECKS, "cache", broken_cache)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["failing"] == ["cache"]


@pytest.mark.django_db
def test_a_dead_beat_makes_health_degraded_naming_it(client, settings):
    response = client.get("/health")  # beat never ran
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failing"] == ["beat"]
    assert body["checks"]["beat"]["last_heartbeat"] is None

    beat_heartbeat_record()
    assert client.get("/health").json()["status"] == "healthy"

    settings.BEAT_HEARTBEAT_MAX_AGE_SECONDS = 60
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        stale = client.get("/health").json()
    assert stale["failing"] == ["beat"]
    assert stale["checks"]["beat"]["age_seconds"] >= 60
