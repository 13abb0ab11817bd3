"""Quotas hold over real HTTP: a burst of clients against the live ASGI platform."""

import asyncio
from collections import Counter

import httpx
import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for
from usage.services import quota_override_set


@pytest.mark.django_db(transaction=True)
def test_exactly_one_of_50_concurrent_http_requests_is_admitted_when_one_is_left(
    live_asgi, catalogue_tx
):
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=1, reason="test")
    headers = {"Authorization": f"Bearer {jwt_for(user)}"}

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(
            base_url=live_asgi.http_url, timeout=60, limits=limits
        ) as c:
            return await asyncio.gather(
                *(
                    c.post(
                        "/api/ai/chat",
                        json={"message": f"tagline {i}", "max_tokens": 16},
                        headers=headers,
                    )
                    for i in range(50)
                )
            )

    responses = asyncio.run(burst())
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 429: 49}
    refused = [r for r in responses if r.status_code == 429]
    assert {r.json()["error"]["code"] for r in refused} == {"quota_exceeded"}
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
    assert {r.json()["error"]["details"]["limit"] for r in refused} == {1}
    admitted = next(r for r in responses if r.status_code == 200)
    assert admitted.headers["X-RateLimit-Remaining-Requests"] == "0"
