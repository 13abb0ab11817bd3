"""/v1 runs through the lean handler: the same headers and error envelope as every
other path, without Django's sync-only middleware (no thread hop per hook)."""

import httpx
import pytest
from django.utils.deprecation import MiddlewareMixin

ORIGIN = "https://app.flowmatik.co"


@pytest.fixture
def sync_middleware_hops(monkeypatch) -> list[str]:
    """Each sync-only middleware run on the async stack (a thread hop or two)."""
    hops: list[str] = []
    real = MiddlewareMixin.__acall__

    async def spy(self, request):
        hops.append(type(self).__name__)
        return await real(self, request)

    monkeypatch.setattr(MiddlewareMixin, "__acall__", spy)
    return hops


def test_v1_keeps_request_ids_security_headers_cors_and_the_error_envelope(
    live_asgi, settings, sync_middleware_hops
):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]
    response = httpx.get(
        f"{live_asgi.http_url}/v1/models",
        headers={"Origin": ORIGIN, "X-Request-ID": "req-lean-1"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["X-Request-ID"] == "req-lean-1"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert sync_middleware_hops == []

    missing = httpx.get(
        f"{live_asgi.http_url}/v1/no-such-thing",
        headers={"Accept-Language": "es"},
        timeout=10,
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.headers["Content-Language"] == "es"  # the reader's language
    assert sync_middleware_hops == []


def test_other_paths_keep_the_whole_middleware_chain(live_asgi, sync_middleware_hops):
    response = httpx.get(f"{live_asgi.http_url}/api/ai/models", timeout=10)

    assert response.status_code == 401
    assert {"SessionMiddleware", "CsrfViewMiddleware"} <= set(sync_middleware_hops)
