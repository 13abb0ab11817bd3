"""A body sent with `Transfer-Encoding: chunked` (no Content-Length), through uvicorn,
is read like any other body, or refused (413) — never dropped with a 200."""

import json

import httpx
import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for

pytestmark = pytest.mark.django_db(transaction=True)


def _chunks(payload: dict, size: int = 7):
    raw = json.dumps(payload).encode()
    for start in range(0, len(raw), size):
        yield raw[start : start + size]


def _client(live_asgi, user) -> httpx.Client:
    return httpx.Client(
        base_url=live_asgi.http_url,
        headers={
            "Authorization": f"Bearer {jwt_for(user)}",
            "Content-Type": "application/json",
        },
        timeout=10,
    )


def test_chunked_patch_of_the_profile_is_applied(live_asgi):
    user = UserFactory(company="Before")
    with _client(live_asgi, user) as http:
        request = http.build_request(
            "PATCH", "/api/auth/profile", content=_chunks({"company": "After"})
        )
        assert request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in request.headers
        response = http.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["company"] == "After"
    user.refresh_from_db()
    assert user.company == "After"


def test_chunked_body_reaches_the_async_views_too(live_asgi):
    """The async login-free path: /v1 answers about the body it really got."""
    user = UserFactory()
    with _client(live_asgi, user) as http:
        # An invalid body must be seen as invalid (not as an empty `{}`).
        response = http.post(
            "/api/ai/chat", content=_chunks({"message": ["not", "a", "string"]})
        )
    assert response.status_code == 400, response.text
    assert "message" in response.json()["error"]["details"]["fields"]


def test_chunked_body_over_the_limit_is_413(live_asgi, settings):
    settings.HTTP_CHUNKED_BODY_MAX_BYTES = 1024
    user = UserFactory(company="Before")
    with _client(live_asgi, user) as http:
        response = http.patch(
            "/api/auth/profile", content=_chunks({"bio": "x" * 4000}, size=500)
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    user.refresh_from_db()
    assert user.bio != "x" * 4000
