"""Rate limits and the log-in lockout hold in total across two web processes.

Two uvicorn processes as `make run` starts them share what production shares: the
database (django-axes' failure records), and the cache behind the per-minute limits
(diskcache under one var/ on the embedded default; Redis when REDIS_URL is set).
Requests alternate between them; the limit counts them together, not per process.
"""

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.platform import platform_env
from flowmatik.testing.processes import uvicorn_process

pytestmark = [pytest.mark.timeout(120, func_only=True)]

FAILURE_LIMIT = 4
AI_PER_MINUTE = 4


@pytest.fixture(scope="module")
def two_web_processes(
    tmp_path_factory, django_db_setup, demo_server
) -> Iterator[list[str]]:
    """Started once for the module (each start costs seconds); each test makes
    users of its own. Keys of their own on a shared Redis, deleted afterwards."""
    prefix = f"fmk-xproc-{uuid.uuid4().hex[:10]}"
    workdir = tmp_path_factory.mktemp("two-web")
    env = platform_env(
        workdir=workdir,
        AI_DEMO_BASE_URL=demo_server.base_url,
        LOGIN_FAILURE_LIMIT=str(FAILURE_LIMIT),
        RATELIMIT_AI_PER_USER=f"{AI_PER_MINUTE}/m",
        CACHE_KEY_PREFIX=prefix,
        QUOTA_REDIS_PREFIX=f"{prefix}:q",
    )
    try:
        with (
            uvicorn_process(workdir=workdir, env=env, name="web-a") as web_a,
            uvicorn_process(workdir=workdir, env=env, name="web-b") as web_b,
        ):
            yield [web_a.http_url, web_b.http_url]
    finally:
        _redis_keys_delete(f"{prefix}:*")


def _redis_keys_delete(pattern: str) -> None:
    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=pattern, count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


def test_login_failures_on_both_processes_lock_the_account_on_both(
    two_web_processes, catalogue_tx
):
    user = UserFactory()
    # The processes run the production hasher list (the suite's MD5 is not in it)
    user.password = make_password(DEFAULT_PASSWORD, hasher="argon2")
    user.save(update_fields=["password"])
    web = two_web_processes
    with httpx.Client(timeout=30) as http:

        def login(index: int, password: str) -> httpx.Response:
            return http.post(
                f"{web[index % 2]}/api/auth/login",
                json={"email": user.email, "password": password},
            )

        codes = [login(i, "wrong-one").status_code for i in range(FAILURE_LIMIT)]
        # FAILURE_LIMIT - 1 failures split over both processes, then the lockout:
        # neither counted only its own share
        assert codes == [401] * (FAILURE_LIMIT - 1) + [429]
        for index in (0, 1):  # the right password is refused on both
            locked = login(index, DEFAULT_PASSWORD)
            assert locked.status_code == 429, locked.text
            assert locked.json()["error"]["code"] == "account_locked"


def test_the_per_minute_ai_limit_counts_requests_on_both_processes(
    two_web_processes, catalogue_tx
):
    user = UserFactory()
    headers = {"Authorization": f"Bearer {jwt_for(user)}"}
    web = two_web_processes
    # The limit's window is the clock minute: start well inside one
    if time.time() % 60 > 40:
        time.sleep(61 - time.time() % 60)
    with httpx.Client(timeout=30, headers=headers) as http:
        answers = [
            http.post(
                f"{web[i % 2]}/api/ai/chat", json={"message": f"[[words:2]] hi {i}"}
            )
            for i in range(AI_PER_MINUTE + 2)
        ]
    codes = [answer.status_code for answer in answers]
    assert codes == [200] * AI_PER_MINUTE + [429, 429], [a.text for a in answers]
    for refused in answers[AI_PER_MINUTE:]:
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) > 0
