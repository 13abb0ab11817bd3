"""Refused AI calls (429) carry the same `X-RateLimit-*` headers as admitted ones."""

import httpx
import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import api_key_for, jwt_for
from usage.services import quota_override_set

pytestmark = pytest.mark.usefixtures("catalogue_tx")

HEADERS = (
    "X-RateLimit-Limit-Requests",
    "X-RateLimit-Remaining-Requests",
    "X-RateLimit-Limit-Tokens",
    "X-RateLimit-Remaining-Tokens",
    "X-RateLimit-Reset",
)


def _assert_rate_headers(response: httpx.Response) -> None:
    missing = [name for name in HEADERS if name not in response.headers]
    assert missing == [], (response.status_code, dict(response.headers))


def test_quota_exceeded_on_chat_carries_rate_limit_headers(live_asgi):
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=1, reason="test")
    auth = {"Authorization": f"Bearer {jwt_for(user)}"}
    with httpx.Client(base_url=live_asgi.http_url, headers=auth, timeout=10) as http:
        body = {"message": "tagline", "max_tokens": 8}
        admitted = http.post("/api/ai/chat", json=body)
        refused = http.post("/api/ai/chat", json=body)
    assert admitted.status_code == 200, admitted.text
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert int(refused.headers["Retry-After"]) > 0
    _assert_rate_headers(refused)
    assert refused.headers["X-RateLimit-Limit-Requests"] == "1"
    assert refused.headers["X-RateLimit-Remaining-Requests"] == "0"
    assert refused.headers["X-RateLimit-Reset"] == admitted.headers["X-RateLimit-Reset"]


def test_quota_exceeded_on_v1_carries_rate_limit_headers(live_asgi):
    owner = UserFactory()
    raw = api_key_for(owner)
    quota_override_set(user_id=owner.pk, requests_per_day=1, reason="test")
    body = {
        "model": "flowmatik-demo",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 8,
    }
    auth = {"Authorization": f"Bearer {raw}"}
    with httpx.Client(base_url=live_asgi.http_url, headers=auth, timeout=10) as http:
        assert http.post("/v1/chat/completions", json=body).status_code == 200
        refused = http.post("/v1/chat/completions", json=body)
    assert refused.status_code == 429
    _assert_rate_headers(refused)
    assert refused.headers["X-RateLimit-Remaining-Requests"] == "0"


def test_per_minute_rate_limit_refusal_carries_rate_limit_headers(live_asgi, settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_AI_PER_USER = "1/m"
    user = UserFactory()
    auth = {"Authorization": f"Bearer {jwt_for(user)}"}
    with httpx.Client(base_url=live_asgi.http_url, headers=auth, timeout=10) as http:
        body = {"message": "tagline", "max_tokens": 8}
        assert http.post("/api/ai/chat", json=body).status_code == 200
        refused = http.post("/api/ai/chat", json=body)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    _assert_rate_headers(refused)
    # The daily quota is untouched by the refusal: one request counted.
    limit = refused.headers["X-RateLimit-Limit-Requests"]
    remaining = refused.headers["X-RateLimit-Remaining-Requests"]
    assert int(limit) - int(remaining) == 1
