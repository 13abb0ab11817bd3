"""Overload: a flood of AI calls beyond a web process's capacity, on a real uvicorn.

The process runs `AI_MAX_CONCURRENT_REQUESTS` admitted AI calls at once (each held
~1 s by the demo model); a flood of 8x that many arrives together. Every client
gets its answer quickly — served (200) or refused at once (503 `overloaded` with
Retry-After, its reservation given back) — none waits in a queue until it times
out, and the process stays within a memory bound. A flood from a customer over
quota holds no slot: every refusal is its 429 `quota_exceeded`. The cheap cap on
requests held from the first byte (`AI_MAX_PENDING_REQUESTS`) refuses before any
work.
"""

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.platform import platform_env
from flowmatik.testing.processes import uvicorn_process
from usage.selectors import quota_state_for_user
from usage.services import quota_override_set

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120, func_only=True)]

LIMIT = 8
FLOOD = LIMIT * 8
# At most this many requests between first byte and admission at once: about the
# production ratio to LIMIT (32 to 200)
ADMITTING = 2
CALL_SECONDS = 1.0
# Every answer within this, well inside the clients' 30 s timeout: each request is
# authenticated and (unless the pending cap refuses it) checked against the quota
# on the database store, which takes seconds for the flood on a loaded 2-core machine
ANSWERED_WITHIN = CALL_SECONDS * 20
RSS_LIMIT_MB = 600


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _flood(
    url: str, token: str, flood: int = FLOOD
) -> list[tuple[int, float, httpx.Response]]:
    limits = httpx.Limits(max_connections=flood)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        # One call first: the flood meets a warm process (caches, connections).
        warm = await client.post(
            "/api/ai/chat",
            json={"message": "warm-up"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert warm.status_code in (200, 429), warm.text

        async def one(n: int):
            started = time.monotonic()
            response = await client.post(
                "/api/ai/chat",
                json={"message": f"call {n} [[delay:{CALL_SECONDS}]]"},
                headers={"Authorization": f"Bearer {token}"},
            )
            return response.status_code, time.monotonic() - started, response

        return await asyncio.gather(*(one(n) for n in range(flood)))


def _requests_used(settings, user) -> int:
    """The day's requests as the platform counted them: on the database (it ran
    without Redis), whatever this test process's REDIS_URL."""
    settings.REDIS_URL = ""
    return quota_state_for_user(user_id=user.pk).requests_used


def _env(tmp_path, demo_server, **extra: str) -> dict[str, str]:
    return platform_env(
        workdir=tmp_path,
        REDIS_URL="",
        AI_DEMO_BASE_URL=demo_server.base_url,
        AI_MAX_CONCURRENT_REQUESTS=str(LIMIT),
        AI_ADMISSION_CONCURRENCY=str(ADMITTING),
        RATELIMIT_AI_PER_USER="",
        RATELIMIT_AI_PER_IP="",
        **extra,
    )


def test_a_flood_beyond_capacity_is_answered_quickly_and_memory_stays_bounded(
    tmp_path, catalogue_tx, demo_server, settings
):
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=FLOOD * 10)
    env = _env(tmp_path, demo_server)
    with uvicorn_process(workdir=tmp_path, env=env) as web:
        results = asyncio.run(_flood(web.http_url, jwt_for(user)))
        rss = _rss_mb(web.process.pid)
        # Still serving after the flood.
        after = httpx.post(
            f"{web.http_url}/api/ai/chat",
            json={"message": "after"},
            headers={"Authorization": f"Bearer {jwt_for(user)}"},
            timeout=30,
        )

    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429, 503}, sorted(set(statuses))
    served = statuses.count(200)
    assert LIMIT <= served < FLOOD, statuses  # some served, the excess refused
    refused = [r for s, _, r in results if s == 503]
    assert refused
    assert {r.json()["error"]["code"] for r in refused} == {"overloaded"}
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
    # Nothing waited for a slot (it would have been served): every refusal came
    # after its admission round trip at most (on the database quota store here:
    # serialized, seconds on a loaded machine), not after a queue.
    assert max(t for _, t, _ in results) < ANSWERED_WITHIN
    assert rss < RSS_LIMIT_MB, f"{rss:.0f} MB"
    assert after.status_code == 200, after.text
    # A call refused for want of a slot gave its reservation back: the day counts
    # the served calls only.
    # (+ the warm-up call and the call after)
    assert _requests_used(settings, user) == served + 2


def test_a_flood_from_a_customer_over_quota_gets_429s_not_overloaded(
    tmp_path, catalogue_tx, demo_server
):
    """Refusals by the quota are cheap: they hold no slot among the admitted calls,
    so a flood far past `AI_MAX_CONCURRENT_REQUESTS` from a customer whose quota
    admits fewer is answered exactly: the quota's calls served, every other 429.
    (Each one is a quota admission, serialized on the database store here: a
    smaller flood than above keeps the test quick on a loaded machine.)"""
    quota, flood = LIMIT // 2, LIMIT * 3  # the warm-up call takes one of the quota
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=quota)
    with uvicorn_process(workdir=tmp_path, env=_env(tmp_path, demo_server)) as web:
        results = asyncio.run(_flood(web.http_url, jwt_for(user), flood))

    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == quota - 1, statuses
    assert statuses.count(429) == flood - quota + 1, statuses
    codes = {r.json()["error"]["code"] for s, _, r in results if s == 429}
    assert codes == {"quota_exceeded"}
    assert max(t for _, t, _ in results) < ANSWERED_WITHIN


def test_requests_past_the_pending_cap_are_refused_before_any_work(
    tmp_path, catalogue_tx, demo_server, settings
):
    """`AI_MAX_PENDING_REQUESTS` counts from the first byte: below the admitted-call
    limit it is what bounds the flood, and its refusals touch no quota."""
    pending = LIMIT // 2
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=FLOOD * 10)
    env = _env(tmp_path, demo_server, AI_MAX_PENDING_REQUESTS=str(pending))
    with uvicorn_process(workdir=tmp_path, env=env) as web:
        results = asyncio.run(_flood(web.http_url, jwt_for(user)))

    statuses = [status for status, _, _ in results]
    served = statuses.count(200)
    assert 1 <= served <= pending, statuses
    refused = [r for s, _, r in results if s == 503]
    assert len(refused) == FLOOD - served
    assert {r.json()["error"]["code"] for r in refused} == {"overloaded"}
    assert max(t for _, t, _ in results) < ANSWERED_WITHIN
    # The refused ones never reached the quota (+ the warm-up call)
    assert _requests_used(settings, user) == served + 1
