"""`GET /health`: the design document's shape, plus checks; 503 when the DB is down."""

from datetime import datetime

import pytest
from django.db import OperationalError, connection


@pytest.mark.django_db
def test_health_has_the_documented_shape(client, settings):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == settings.APP_VERSION
    assert body["environment"] == settings.ENVIRONMENT
    assert body["timestamp"].endswith("Z")
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.mark.django_db
def test_health_is_503_unhealthy_naming_the_database_when_it_is_unreachable(
    client, monkeypatch
):
    def unreachable(*args, **kwargs):
        raise OperationalError('(2003, "Can\'t connect to MySQL server")')

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

    monkeypatch.setitem(health.CHECKS, "cache", broken_cache)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["failing"] == ["cache"]
