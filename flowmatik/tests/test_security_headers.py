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


@pytest.mark.django_db
def test_api_docs_load_only_our_own_static_files(client):
    """Swagger UI works offline: no CDN in the page or the CSP."""
    import re

    from django.contrib.staticfiles import finders

    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)
    urls += re.findall(r"""["'](https?://[^"']+)["']""", page)
    assert urls, page
    foreign = [u for u in urls if "://" in u or u.startswith("//")]
    assert foreign == []
    static = [u for u in urls if u.startswith("/static/")]
    assert any("swagger-ui" in u for u in static), urls
    for url in static:
        assert finders.find(url.removeprefix("/static/").split("?")[0]), url
    scripts = [u for u in urls if u.startswith("/api/docs/")]
    assert scripts, urls  # the init script is its own same-origin request
    init = client.get(scripts[0].replace("&amp;", "&"))
    assert init.status_code == 200
    assert "/api/schema/" in init.content.decode()
    csp = response["Content-Security-Policy"]
    assert "http" not in csp
    assert "cdn" not in csp
