"""Security headers (the Helmet equivalents) on every response."""

import pytest


@pytest.mark.django_db
def test_responses_carry_security_headers(client):
    response = client.get("/health")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_cors_allows_only_the_configured_origins(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.flowmatik.co"]
    allowed = client.get("/health", HTTP_ORIGIN="https://app.flowmatik.co")
    assert allowed["Access-Control-Allow-Origin"] == "https://app.flowmatik.co"
    denied = client.get("/health", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in denied
