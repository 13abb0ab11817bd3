"""The background usage-record writer of the Redis settle path (`usage.record_writer`).

A warm AI call does no database query at all, settlement included; its record
reaches the database within the flush interval, survives the database refusing
for a while, and the drain task meeting the same events in Redis counts nothing
twice (the daily and monthly rollups stay equal to the raw records).
"""

import os
import threading
from decimal import Decimal

import httpx
import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.db.models import Sum
from django.utils import timezone

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import api_key_for
from flowmatik.testing.platform import platform_env, wait_for
from usage import quota_redis, record_writer, services
from usage.models import UsageDaily, UsageMonthly, UsageRecord
from usage.tests.conftest import admit, settle
from usage.types import CallStatus

pytestmark = [pytest.mark.timeout(60, func_only=True)]

FLUSH_MS = 50


@pytest.fixture
def writer(settings, redis_url, transactional_db):
    """Redis settle path with the background writer on (committed rows only: the
    writer's thread sees what a web process would)."""
    settings.REDIS_URL = redis_url
    settings.USAGE_RECORD_FLUSH_MS = FLUSH_MS
    record_writer.records_discard()
    yield quota_redis.sync_client()
    record_writer.records_discard()


@pytest.fixture
def refusing(monkeypatch):
    """The database refuses every statement of the writer's thread while set."""
    state = threading.Event()
    real = CursorWrapper._execute

    def execute(self, sql, *args, **kwargs):
        if state.is_set() and threading.current_thread().name == (
            record_writer.THREAD_NAME
        ):
            raise OperationalError("the database is unavailable")
        return real(self, sql, *args, **kwargs)

    monkeypatch.setattr(CursorWrapper, "_execute", execute)
    state.set()
    return state


def _rollups_equal_records(user) -> None:
    records = UsageRecord.objects.filter(user=user)
    counted = records.exclude(status=CallStatus.ERROR)
    for model in (UsageDaily, UsageMonthly):
        sums = model.objects.filter(user=user).aggregate(
            requests=Sum("requests"),
            failed=Sum("failed_requests"),
            tokens=Sum("total_tokens"),
            cost=Sum("cost"),
        )
        assert sums["requests"] == counted.count(), model
        assert sums["failed"] == records.filter(status=CallStatus.ERROR).count()
        assert sums["tokens"] == counted.aggregate(t=Sum("total_tokens"))["t"]
        assert sums["cost"] == records.aggregate(c=Sum("cost"))["c"] or Decimal(0)


def test_a_warm_v1_call_queries_no_database_and_its_record_arrives_soon(
    writer, live_asgi, catalogue_tx, ai_demo, monkeypatch
):
    owner = UserFactory()
    raw = api_key_for(owner)
    body = {
        "model": "flowmatik-demo",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 8,
    }
    queries: list[tuple[str, str]] = []
    real = CursorWrapper._execute

    def counting(self, sql, *args, **kwargs):
        name = threading.current_thread().name
        if name != record_writer.THREAD_NAME:
            queries.append((name, sql))
        return real(self, sql, *args, **kwargs)

    auth = {"Authorization": f"Bearer {raw}"}
    with httpx.Client(base_url=live_asgi.http_url, headers=auth, timeout=10) as http:
        for _ in range(2):  # identity, plan, limits and the Redis day are warm now
            assert http.post("/v1/chat/completions", json=body).status_code == 200
        monkeypatch.setattr(CursorWrapper, "_execute", counting)
        hot = http.post("/v1/chat/completions", json=body)
        monkeypatch.undo()

    assert hot.status_code == 200, hot.text
    assert queries == []
    wait_for(
        lambda: UsageRecord.objects.filter(user=owner).count() == 3,
        timeout=5,
        what="3 usage records from the writer",
    )
    record = UsageRecord.objects.get(request_id=hot.headers["X-Request-ID"])
    assert record.total_tokens == hot.json()["usage"]["total_tokens"]
    _rollups_equal_records(owner)


def test_records_wait_while_the_database_refuses_and_are_stored_when_it_returns(
    writer, refusing
):
    user = UserFactory()
    reservations = [admit(user.pk) for _ in range(3)]
    for reservation in reservations:
        settle(reservation, prompt=10, completion=5)

    wait_for(lambda: record_writer._writer.failing, timeout=5, what="a refusal")
    assert not UsageRecord.objects.exists()
    assert record_writer.records_pending() == 3
    refusing.clear()

    wait_for(lambda: UsageRecord.objects.count() == 3, timeout=5, what="stored records")
    assert set(UsageRecord.objects.values_list("event_key", flat=True)) == {
        r.id for r in reservations
    }
    assert record_writer.records_pending() == 0
    _rollups_equal_records(user)


def test_the_drain_after_the_writer_stores_each_call_once(writer):
    user = UserFactory()
    settle(admit(user.pk), prompt=10, completion=5)
    settle(admit(user.pk, endpoint="summary"), prompt=7, completion=3)
    settle(admit(user.pk), status=CallStatus.ERROR, prompt=4, completion=0)
    assert writer.llen(quota_redis.events_key()) == 3  # the drain's copy
    wait_for(lambda: UsageRecord.objects.count() == 3, timeout=5, what="records")

    assert services.usage_events_drain() == 3

    assert UsageRecord.objects.count() == 3
    assert writer.llen(quota_redis.events_key()) == 0
    _rollups_equal_records(user)


def test_the_writer_after_the_drain_stores_each_call_once(writer, refusing):
    user = UserFactory()
    for _ in range(4):
        settle(admit(user.pk), prompt=10, completion=5)
    wait_for(lambda: record_writer._writer.failing, timeout=5, what="a refusal")
    # The drain (another process) stores the Redis copies first.
    assert services.usage_events_drain() == 4
    assert UsageRecord.objects.count() == 4
    refusing.clear()

    wait_for(lambda: record_writer.records_pending() == 0, timeout=5, what="the writer")
    assert UsageRecord.objects.count() == 4
    _rollups_equal_records(user)


SETTLE_AND_EXIT = """
from asgiref.sync import async_to_sync
from usage import record_writer, services
from usage.types import CallStatus, UsageEvent

reservation = async_to_sync(services.usage_admit)(
    user_id={user_id}, ip=None, prompt_tokens=10, max_tokens=20, endpoint="chat"
)
async_to_sync(services.usage_settle)(
    reservation=reservation,
    event=UsageEvent(
        request_id="req-at-exit", user_id={user_id}, endpoint="chat",
        model="demo-small", provider="demo", status=CallStatus.SUCCESS,
        prompt_tokens=10, completion_tokens=5,
    ),
)
assert record_writer.records_pending() == 1, "stored before exit"
"""


@pytest.mark.slow
def test_records_still_queued_when_a_process_exits_are_stored(writer, tmp_path):
    import subprocess
    import sys
    import uuid

    from django.conf import settings

    user = UserFactory()
    prefix = f"fmk:qtest:{uuid.uuid4().hex[:12]}"
    env = platform_env(
        workdir=tmp_path,
        REDIS_URL=settings.REDIS_URL,
        QUOTA_REDIS_PREFIX=prefix,
        USAGE_RECORD_FLUSH_MS="600000",  # no flush round before the exit
        QUOTA_FAILOVER_HOLD_SECONDS="0",
    )
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "shell", "-c"]
            + [SETTLE_AND_EXIT.format(user_id=user.pk)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        for key in writer.scan_iter(match=f"{prefix}:*"):
            writer.delete(key)
    assert done.returncode == 0, done.stderr[-2000:]
    record = UsageRecord.objects.get(user=user)
    assert record.request_id == "req-at-exit"
    _rollups_equal_records(user)


def test_a_celery_task_that_settled_calls_leaves_their_records_stored(writer, refusing):
    from usage.tasks import usage_reservations_sweep

    user = UserFactory()
    settle(admit(user.pk), prompt=10, completion=5)
    # The writer's own thread cannot store it (refused); the task's end does.
    wait_for(lambda: record_writer._writer.failing, timeout=5, what="a refusal")

    usage_reservations_sweep.apply()

    assert UsageRecord.objects.filter(user=user).count() == 1
    assert record_writer.records_pending() == 0


def _payload(user, n: int, **fields) -> dict:
    payload = {
        "kind": "usage",
        "event_key": f"batch-{user.pk}-{n}",
        "user_id": user.pk,
        "api_key_id": None,
        "endpoint": "chat",
        "model": "m-a",
        "provider": "demo",
        "status": str(CallStatus.SUCCESS),
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "cost": "0.000125",
        "currency": "USD",
        "latency_ms": 5,
        "request_id": f"req-{n}",
        "error_code": "",
        "estimated": False,
        "created_at": "2026-03-31T23:59:00+00:00",
    }
    return {**payload, **fields}


def test_a_batch_costs_the_same_few_statements_however_many_rollup_rows_it_adds_to(
    db,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import ApiKey

    owner, other = UserFactory(), UserFactory()
    api_key_for(owner)
    key = ApiKey.objects.get(user=owner)
    first = [_payload(owner, 0, model="m-b"), _payload(owner, 1, endpoint="embed")]
    assert services.usage_records_store_batch(payloads=first) == 2
    second = [
        _payload(owner, 1, endpoint="embed"),  # stored before: skipped
        _payload(owner, 2, model="m-b", api_key_id=key.pk),  # adds to a stored row
        _payload(owner, 3, created_at="2026-04-01T00:00:00+00:00"),  # next month
        _payload(owner, 4, status=str(CallStatus.ERROR), endpoint="embed"),
        _payload(owner, 5, api_key_id=key.pk + 1000),  # a deleted key: usage counts
        _payload(other, 6, model="m-c", cost="1.5"),
        _payload(other, 7, model="m-c", cost="2.25", prompt_tokens=10),
        {**_payload(other, 8), "user_id": other.pk + 1000},  # a deleted user
    ]
    with CaptureQueriesContext(connection) as queries:
        assert services.usage_records_store_batch(payloads=second) == 6
    statements = [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "SET "))
    ]
    # stored keys, users + keys, the records, the daily rows, the monthly rows
    assert len(statements) == 5, statements
    assert UsageRecord.objects.get(event_key=f"batch-{owner.pk}-2").api_key_id == key.pk
    assert UsageRecord.objects.get(event_key=f"batch-{owner.pk}-5").api_key_id is None
    assert UsageDaily.objects.filter(user=owner).count() == 4
    assert UsageMonthly.objects.filter(user=owner).count() == 3
    m_b = UsageDaily.objects.get(user=owner, model="m-b", endpoint="chat")
    assert (m_b.requests, m_b.prompt_tokens, m_b.total_tokens) == (2, 6, 14)
    assert m_b.cost == Decimal("0.000250")
    march = UsageMonthly.objects.get(user=owner, model="m-a", month="2026-03-01")
    assert (march.requests, march.failed_requests, march.total_tokens) == (2, 1, 14)
    theirs = UsageMonthly.objects.get(user=other)
    assert (theirs.requests, theirs.prompt_tokens, theirs.completion_tokens) == (
        2,
        13,
        8,
    )
    assert theirs.cost == Decimal("3.75")
    _rollups_equal_records(owner)
    _rollups_equal_records(other)


# Python calls per stored record in the batch store, beyond a batch's fixed cost:
# 274 when `bulk_create` compiled every value of every row through the ORM (SQLite;
# more on MariaDB), 42 on SQLite and ~70 on MariaDB since
RECORD_CALLS_PER_RECORD = 120


def _store_calls(payloads: list[dict]) -> int:
    import sys

    calls = 0

    def count(frame, event, arg) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        stored = services.usage_records_store_batch(payloads=payloads)
    finally:
        sys.setprofile(None)
    assert stored == len(payloads)
    return calls


def test_storing_a_record_costs_few_python_calls_beyond_the_batch(db):
    owner = UserFactory()
    _store_calls([_payload(owner, 0)])  # warm: imports, caches
    few = _store_calls([_payload(owner, n) for n in range(1, 3)])
    many = _store_calls([_payload(owner, n) for n in range(3, 43)])
    per_record = (many - few) / 38
    assert per_record <= RECORD_CALLS_PER_RECORD, per_record


def test_a_stored_record_holds_every_field_of_its_event(db):
    from accounts.models import ApiKey

    owner = UserFactory()
    api_key_for(owner)
    key = ApiKey.objects.get(user=owner)
    payload = _payload(
        owner,
        1,
        api_key_id=key.pk,
        endpoint="e" * 70,  # cut to the column's 64
        status=str(CallStatus.PARTIAL),
        cost="1.234567",
        error_code="provider_error",
        estimated=True,
        created_at="2026-03-31T22:15:30.123456+00:00",
    )
    assert services.usage_records_store_batch(payloads=[payload]) == 1
    record = UsageRecord.objects.get(event_key=payload["event_key"])
    assert record.user_id == owner.pk
    assert record.api_key_id == key.pk
    assert record.endpoint == "e" * 64
    assert (record.model, record.provider) == ("m-a", "demo")
    assert record.status == CallStatus.PARTIAL
    assert (record.prompt_tokens, record.completion_tokens) == (3, 4)
    assert record.total_tokens == 7
    assert record.cost == Decimal("1.234567")
    assert (record.currency, record.latency_ms) == ("USD", 5)
    assert (record.request_id, record.error_code) == ("req-1", "provider_error")
    assert record.estimated is True
    assert record.created_at.isoformat() == "2026-03-31T22:15:30.123456+00:00"
    assert record.recorded_at is not None
    assert abs((timezone.now() - record.recorded_at).total_seconds()) < 60
