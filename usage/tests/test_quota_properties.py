"""Property tests of the quota arithmetic, on Redis and on the database fallback.

Hypothesis draws a daily limit and any sequence of admit / settle (success, partial,
error, twice) / expire (the sweeper frees the reservations of dead calls, whose late
settle still counts). A plain model of the rules predicts every admission and the
counters after each step; the engine must agree exactly, never go negative, never
admit past a limit, and after the drain the daily and monthly rollups must equal
the raw usage records.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db.models import Count, Q, Sum
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from usage import quota_db, quota_redis, services
from usage.errors import QuotaExceeded
from usage.models import UsageDaily, UsageMonthly, UsageRecord
from usage.services import quota_override_set
from usage.tests.conftest import make_event
from usage.types import CallStatus

pytestmark = pytest.mark.django_db

# Bounded: each example is a few dozen quota round trips (well under a second).
PROPERTY_SETTINGS = hsettings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOON = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
ENDPOINTS = ("chat", "v1.chat.completions")
MODELS = ("demo-small", "demo-large")

admits = st.tuples(
    st.just("admit"),
    st.integers(0, 60),  # prompt tokens
    st.integers(0, 120),  # max_tokens asked for
    st.sampled_from(ENDPOINTS),
)
settles = st.tuples(
    st.just("settle"),
    st.integers(0, 30),  # which reservation (modulo how many exist)
    st.sampled_from([CallStatus.SUCCESS, CallStatus.PARTIAL, CallStatus.ERROR]),
    st.integers(0, 100),  # % of the granted output tokens produced
    st.sampled_from(MODELS),
)
expires = st.tuples(st.just("expire"))
operations = st.lists(
    st.one_of(admits, admits, settles, settles, expires), min_size=1, max_size=25
)
limits = st.one_of(
    st.just((None, None)),  # unlimited
    st.tuples(st.integers(0, 8), st.integers(0, 600)),  # requests, tokens per day
)


@dataclass
class Model:
    """The quota rules, written as plainly as possible."""

    lreq: int | None
    ltok: int | None
    requests: int = 0
    used: int = 0
    reserved: int = 0
    # reservation index -> "open" | "swept" | "settled"
    states: dict = field(default_factory=dict)
    records: int = 0

    def admit(self, prompt: int, max_tokens: int) -> int | None:
        """The granted output tokens, or None when refused."""
        if self.lreq is not None and self.requests >= self.lreq:
            return None
        grant = max_tokens
        if self.ltok is not None:
            avail = self.ltok - self.used - self.reserved - prompt
            if avail < (1 if max_tokens > 0 else 0):
                return None
            grant = min(grant, avail)
        self.requests += 1
        self.reserved += prompt + grant
        return grant

    def settle(self, index: int, tokens: int, *, error: bool, actual: int) -> None:
        state = self.states[index]
        if state == "settled":
            return
        if state == "open":
            self.reserved -= tokens
        if error:
            self.requests -= 1
        else:
            self.used += actual
        self.states[index] = "settled"
        self.records += 1

    def expire(self, tokens_of) -> None:
        for index, state in self.states.items():
            if state == "open":
                self.reserved -= tokens_of(index)
                self.states[index] = "swept"


def _counters(user_id: int, day) -> tuple[int, int, int]:
    if settings.REDIS_URL:
        raw = quota_redis.sync_client().hmget(
            quota_redis.quota_key(user_id, day), "req", "used", "res"
        )
        return tuple(int(value or 0) for value in raw)
    counters = quota_db.counters_for(user_id=user_id, day=day)
    return counters.requests, counters.tokens_used, counters.tokens_reserved


def _run(ops, lreq, ltok) -> None:
    user = UserFactory()
    quota_override_set(
        user_id=user.pk,
        requests_per_day=lreq,
        tokens_per_day=ltok,
        unlimited=lreq is None,
    )
    model = Model(lreq=lreq, ltok=ltok)
    reservations = []
    late_output = 0  # tokens counted by settles that arrived after their expiry
    with time_machine.travel(NOON, tick=True):
        day = NOON.date()
        for op in ops:
            if op[0] == "admit":
                _, prompt, max_tokens, endpoint = op
                expected = model.admit(prompt, max_tokens)
                try:
                    reservation = async_to_sync(services.usage_admit)(
                        user_id=user.pk,
                        ip=None,
                        prompt_tokens=prompt,
                        max_tokens=max_tokens,
                        endpoint=endpoint,
                    )
                except QuotaExceeded:
                    assert expected is None, "refused a call the limits allow"
                else:
                    assert expected is not None, "admitted a call past a limit"
                    assert reservation.max_tokens == expected
                    assert reservation.tokens_reserved == prompt + expected
                    model.states[len(reservations)] = "open"
                    reservations.append(reservation)
            elif op[0] == "settle" and reservations:
                _, pick, status, percent, model_name = op
                index = pick % len(reservations)
                reservation = reservations[index]
                error = status == CallStatus.ERROR
                completion = 0 if error else reservation.max_tokens * percent // 100
                prompt = 0 if error else reservation.prompt_tokens
                if model.states[index] == "swept" and not error:
                    late_output += prompt + completion
                model.settle(
                    index,
                    reservation.tokens_reserved,
                    error=error,
                    actual=prompt + completion,
                )
                event = make_event(
                    reservation,
                    status=status,
                    prompt=prompt,
                    completion=completion,
                    model=model_name,
                    endpoint=reservation.endpoint,
                )
                async_to_sync(services.usage_settle)(
                    reservation=reservation, event=event
                )
            elif op[0] == "expire":
                model.expire(lambda i: reservations[i].tokens_reserved)
                later = NOON + timedelta(
                    seconds=settings.QUOTA_RESERVATION_TTL_SECONDS + 60
                )
                services.usage_reservations_sweep(now=later)

            requests, used, reserved = _counters(user.pk, day)
            assert (requests, used, reserved) == (
                model.requests,
                model.used,
                model.reserved,
            ), op
            assert min(requests, used, reserved) >= 0
            if lreq is not None:
                assert requests <= lreq
            if ltok is not None:
                # Only a call that outlived its reservation can count past the
                # limit (it did reach the provider); nothing admitted ever does.
                assert used + reserved <= ltok + late_output

        services.usage_events_drain()
    _assert_rollups_equal_records(user.pk, model)


def _assert_rollups_equal_records(user_id: int, model: Model) -> None:
    records = UsageRecord.objects.filter(user_id=user_id)
    assert records.count() == model.records
    ok = ~Q(status=CallStatus.ERROR)
    assert (records.filter(ok).aggregate(t=Sum("total_tokens"))["t"] or 0) == model.used

    by_day = defaultdict(lambda: [0, 0, 0, 0, 0])
    by_month = defaultdict(lambda: [0, 0, 0, 0, 0])
    for rec in records:
        counted = rec.status != CallStatus.ERROR
        row = [
            int(counted),
            int(not counted),
            rec.prompt_tokens if counted else 0,
            rec.completion_tokens if counted else 0,
            rec.total_tokens if counted else 0,
        ]
        day = rec.created_at.astimezone(UTC).date()
        for bucket, key in (
            (by_day, (day, rec.endpoint, rec.model)),
            (by_month, (day.replace(day=1), rec.model)),
        ):
            bucket[key] = [a + b for a, b in zip(bucket[key], row, strict=True)]

    fields = (
        "requests",
        "failed_requests",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    )
    daily = {
        (row.day, row.endpoint, row.model): [getattr(row, f) for f in fields]
        for row in UsageDaily.objects.filter(user_id=user_id)
    }
    monthly = {
        (row.month, row.model): [getattr(row, f) for f in fields]
        for row in UsageMonthly.objects.filter(user_id=user_id)
    }
    assert daily == dict(by_day)
    assert monthly == dict(by_month)
    assert UsageDaily.objects.filter(user_id=user_id).aggregate(n=Count("id"))[
        "n"
    ] == len(by_day)


@pytest.fixture
def quiet_rate_limits(settings):
    # The per-minute limits are tested elsewhere; here only the daily arithmetic.
    settings.RATELIMIT_ENABLE = False


@PROPERTY_SETTINGS
@given(ops=operations, lims=limits)
def test_quota_arithmetic_on_the_database(ops, lims, settings, quiet_rate_limits):
    settings.REDIS_URL = ""
    _run(ops, *lims)


@pytest.mark.redis
@PROPERTY_SETTINGS
@given(ops=operations, lims=limits)
def test_quota_arithmetic_on_redis(ops, lims, settings, redis_url, quiet_rate_limits):
    settings.REDIS_URL = redis_url
    _run(ops, *lims)
