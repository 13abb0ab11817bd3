"""Overload: a flood of AI calls beyond a web process's capacity, on a real uvicorn.

The process serves `AI_MAX_CONCURRENT_REQUESTS` AI calls at once (each held ~1 s
by the demo model); a flood of 8x that many arrives together. Every client gets
its answer quickly — served (200) or refused at once (503 `overloaded` with
Retry-After, or 429) — none waits in a queue until it times out, and the process
stays within a memory bound.
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
from usage.services import quota_override_set

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120, func_only=True)]

LIMIT = 8
FLOOD = LIMIT * 8
CALL_SECONDS = 1.0
RSS_LIMIT_MB = 600


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _flood(url: str, token: str) -> list[tuple[int, float, httpx.Response]]:
    limits = httpx.Limits(max_connections=FLOOD)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(n: int):
            started = time.monotonic()
            response = await client.post(
                "/api/ai/chat",
                json={"message": f"call {n} [[delay:{CALL_SECONDS}]]"},
                headers={"Authorization": f"Bearer {token}"},
            )
            return response.status_code, time.monotonic() - started, response

        return await asyncio.gather(*(one(n) for n in range(FLOOD)))


def test_a_flood_beyond_capacity_is_answered_quickly_and_memory_stays_bounded(
    tmp_path, catalogue_tx, demo_server
):
    user = UserFactory()
    quota_override_set(user_id=user.pk, unlimited=True)
    env = platform_env(
        workdir=tmp_path,
        REDIS_URL="",
        AI_DEMO_BASE_URL=demo_server.base_url,
        AI_MAX_CONCURRENT_REQUESTS=str(LIMIT),
        RATELIMIT_AI_PER_USER="",
        RATELIMIT_AI_PER_IP="",
    )
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
    # Refusals come at once; nothing waited for a slot.
    assert max(t for s, t, _ in results if s == 503) < CALL_SECONDS * 2
    assert max(t for _, t, _ in results) < CALL_SECONDS * 8
    assert rss < RSS_LIMIT_MB, f"{rss:.0f} MB"
    assert after.status_code == 200, after.text
