"""MariaDB connections killed under the real web process (MariaDB only).

While a burst of AI calls runs (metered on the database: no Redis), every
connection the web process holds to the test database is KILLed (only its: the
test process's other threads keep theirs, so later tests are unharmed), three
times, each time while calls wait mid-transaction on a row lock the test holds, so
the kills always hit calls in flight. Each call fails fast
with 503 `database_unavailable` (never a 500, never a hang) or succeeds; once
the kills stop, calls succeed again; and no write was left half done: the quota
counter, the reservations, the usage records and their daily rollup agree.
"""

import concurrent.futures
import threading
import time

import httpx
import pytest
from django.db import connection, transaction
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.faults import (
    mysql_busy_connections,
    mysql_connection_id,
    mysql_kill_connections,
)
from flowmatik.testing.platform import platform_env
from flowmatik.testing.processes import uvicorn_process
from usage.models import QuotaCounter, QuotaReservation, UsageDaily, UsageRecord
from usage.services import quota_override_set

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120, func_only=True)]

CALLS = 60
KILL_ROUNDS = 3
ANSWER_WITHIN_SECONDS = 15


@pytest.fixture
def mysql_only(transactional_db):
    if connection.vendor != "mysql":
        pytest.skip("kills MariaDB connections: needs DATABASE_URL=mysql://... (CI)")


def test_killed_database_connections_fail_fast_with_503_and_leave_no_half_writes(
    tmp_path, mysql_only, catalogue_tx, demo_server
):
    user = UserFactory()
    quota_override_set(user_id=user.pk, requests_per_day=1000)
    token = jwt_for(user)
    env = platform_env(
        workdir=tmp_path,
        REDIS_URL="",
        AI_DEMO_BASE_URL=demo_server.base_url,
        RATELIMIT_AI_PER_USER="",
        RATELIMIT_AI_PER_IP="",
        AI_MAX_RETRIES="0",
    )
    results: list[tuple[int, float, str]] = []
    stop = threading.Event()
    kills: list[int] = []
    with (
        uvicorn_process(workdir=tmp_path, env=env) as web,
        httpx.Client(base_url=web.http_url, timeout=60) as http,
    ):

        def call(n: int) -> None:
            started = time.monotonic()
            response = http.post(
                "/api/ai/chat",
                json={"message": f"call {n} [[delay:0.05]]", "max_tokens": 16},
                headers={"Authorization": f"Bearer {token}"},
            )
            code = ""
            if response.status_code != 200:
                code = response.json()["error"]["code"]
            results.append((response.status_code, time.monotonic() - started, code))

        spare = (mysql_connection_id(),)  # the test's own connection
        database = connection.settings_dict["NAME"]

        def killer() -> None:
            # KILL_ROUNDS rounds in the middle of the burst. Each round first holds
            # the user's quota counter row (FOR UPDATE), so the web process's calls
            # pile up mid-transaction on it (admits and settlements), then kills
            # every connection of the web process (those calls, and idle ones)
            # and lets the row go: the kills hit calls in flight every time.
            try:
                while len(results) < 10 and not stop.is_set():
                    time.sleep(0.02)
                for _ in range(KILL_ROUNDS):
                    if stop.is_set():
                        break
                    with transaction.atomic():
                        list(QuotaCounter.objects.select_for_update().filter(user=user))
                        deadline = time.monotonic() + 5
                        while (
                            mysql_busy_connections(
                                database=database, client_pid=web.process.pid
                            )
                            < 2
                            and time.monotonic() < deadline
                            and not stop.is_set()
                        ):
                            time.sleep(0.02)
                        kills.append(
                            mysql_kill_connections(
                                database=database,
                                spare=spare,
                                client_pid=web.process.pid,
                            )
                        )
                    time.sleep(0.3)
            finally:
                connection.close()

        killing = threading.Thread(target=killer)
        killing.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                list(pool.map(call, range(CALLS)))
        finally:
            stop.set()
            killing.join()
        # The database is back: calls succeed again.
        after = [
            http.post(
                "/api/ai/chat",
                json={"message": f"after {n}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            for n in range(3)
        ]
    output = web.output()

    statuses = [status for status, _, _ in results]
    assert sum(kills) > 0, "no connection was killed"
    assert set(statuses) <= {200, 503}, (sorted(set(statuses)), results)
    assert statuses.count(503) > 0, "the kills never hit a request"
    assert {code for status, _, code in results if status == 503} <= {
        "database_unavailable",
        "quota_unavailable",
    }
    assert max(seconds for _, seconds, _ in results) < ANSWER_WITHIN_SECONDS
    assert [r.status_code for r in after] == [200, 200, 200], after[0].text
    assert "Internal Server Error" not in output

    # No half-written state: each store agrees with the others.
    records = UsageRecord.objects.filter(user=user, status="success")
    daily = UsageDaily.objects.filter(user=user).aggregate(n=Sum("requests"))["n"]
    assert daily == records.count()
    settled_ok = QuotaReservation.objects.filter(user=user, outcome="ok")
    assert set(settled_ok.values_list("id", flat=True)) == set(
        records.values_list("event_key", flat=True)
    )
    counted = QuotaReservation.objects.filter(user=user).exclude(outcome="error")
    assert QuotaCounter.objects.get(user=user).requests == counted.count()
    # every call answered 200 was recorded (its settlement rode through the kills)
    assert records.count() >= statuses.count(200) + 3, [
        line for line in output.splitlines() if "settle" in line.lower()
    ]
