"""The quota over real HTTP: 50 concurrent clients against the live ASGI platform.

Uses the shared live-server fixtures (uvicorn serving `flowmatik.asgi` and the
demo model), so the whole path runs: auth, admission, provider call, settlement.
"""

import asyncio

import httpx
import pytest

from flowmatik.testing.auth import jwt_for
from usage.selectors import quota_state_for_user
from usage.tests.conftest import drain, preload

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("catalogue_tx", "ai_demo"),
]


@pytest.fixture
def http_backend(backend, settings):
    settings.QUOTA_REDIS_TIMEOUT_SECONDS = 10.0
    settings.RATELIMIT_AI_PER_USER = ""
    settings.RATELIMIT_AI_PER_IP = ""
    return backend


async def _burst(url: str, token: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(
                    "/api/ai/chat",
                    json={"message": f"hello {i}"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for i in range(count)
            )
        )


def test_exactly_one_of_50_concurrent_http_calls_gets_the_last_request(
    request, user, http_backend
):
    url = request.getfixturevalue("live_asgi").http_url
    preload(user.pk, requests=99)

    responses = asyncio.run(_burst(url, jwt_for(user), 50))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [429] * 49, [r.text for r in responses[:3]]
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"quota_exceeded"}
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    assert {r.json()["error"]["details"]["limit_type"] for r in refused} == {"requests"}
    ok = next(r for r in responses if r.status_code == 200)
    assert ok.headers["X-RateLimit-Remaining-Requests"] == "0"
    drain()
    state = quota_state_for_user(user_id=user.pk)
    assert state.requests_used == 100
    assert state.tokens_reserved == 0
    assert state.tokens_used == ok.json()["usage"]["total_tokens"]
