"""Admission, settlement, limits, reset, fallback, sweeping: on both backends."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from usage import quota_redis, services
from usage.daily_limits import utc_today
from usage.errors import QuotaExceeded, RateLimited
from usage.models import QuotaCounter, UsageRecord
from usage.selectors import quota_state_for_user
from usage.services import quota_headers, quota_override_set
from usage.tests.conftest import admit, drain, make_event, preload, settle
from usage.types import CallStatus

pytestmark = pytest.mark.django_db


def test_admission_counts_a_request_and_reserves_prompt_plus_max_tokens(user, backend):
    reservation = admit(user.pk, prompt=100, max_tokens=400)

    assert reservation.backend == backend
    assert reservation.tokens_reserved == 500
    assert reservation.max_tokens == 400
    assert reservation.quota.limit_requests == 100
    assert reservation.quota.remaining_requests == 99
    assert reservation.quota.remaining_tokens == 50_000 - 500
    assert reservation.quota.reset_at == datetime.combine(
        utc_today() + timedelta(days=1), datetime.min.time(), tzinfo=UTC
    )


def test_settlement_returns_the_unused_reservation(user, backend):
    reservation = admit(user.pk, prompt=100, max_tokens=400)

    state = settle(reservation, prompt=100, completion=50)

    assert state.tokens_used == 150
    assert state.tokens_reserved == 0
    assert state.remaining_tokens == 50_000 - 150
    assert state.requests_used == 1
    assert quota_state_for_user(user_id=user.pk) == state


def test_partial_stream_counts_the_tokens_it_produced(user, backend):
    reservation = admit(user.pk, prompt=100, max_tokens=400)

    state = settle(reservation, status=CallStatus.PARTIAL, prompt=100, completion=30)

    assert state.tokens_used == 130
    assert state.requests_used == 1


def test_failed_call_consumes_no_tokens_and_no_request(user, backend):
    reservation = admit(user.pk, prompt=100, max_tokens=400)

    state = settle(reservation, status=CallStatus.ERROR, prompt=0, completion=0)

    assert state.requests_used == 0
    assert state.remaining_requests == 100
    assert state.tokens_used == 0
    assert state.remaining_tokens == 50_000
    drain()
    record = UsageRecord.objects.get(event_key=reservation.id)
    assert record.status == "error"


def test_settling_twice_changes_nothing_the_second_time(user, backend):
    reservation = admit(user.pk, prompt=10, max_tokens=90)
    first = settle(reservation, prompt=10, completion=20)

    second = settle(reservation, prompt=10, completion=20)
    late_error = settle(reservation, status=CallStatus.ERROR, prompt=0, completion=0)

    assert first.tokens_used == second.tokens_used == late_error.tokens_used == 30
    assert late_error.requests_used == 1
    drain()
    assert UsageRecord.objects.filter(event_key=reservation.id).count() == 1


def test_max_tokens_is_clamped_to_what_the_allowance_leaves(user, backend):
    preload(user.pk, tokens=49_000)

    reservation = admit(user.pk, prompt=600, max_tokens=4_000)

    assert reservation.max_tokens == 400
    assert reservation.tokens_reserved == 1_000
    assert reservation.quota.remaining_tokens == 0


def test_prompt_that_does_not_fit_is_refused_with_the_token_limit(user, backend):
    preload(user.pk, tokens=49_500)

    with pytest.raises(QuotaExceeded) as info:
        admit(user.pk, prompt=500, max_tokens=100)

    error = info.value
    assert error.status_code == 429
    assert error.code == "quota_exceeded"
    assert error.details["limit_type"] == "tokens"
    assert error.details["limit"] == 50_000
    assert error.details["used"] == 49_500
    assert int(error.headers()["Retry-After"]) == error.details["retry_after"]
    assert quota_state_for_user(user_id=user.pk).requests_used == 0


def test_request_limit_refusal_says_which_limit_and_when_it_resets(user, backend):
    preload(user.pk, requests=100)

    with time_machine.travel(datetime(2026, 3, 1, 23, 0, tzinfo=UTC), tick=False):
        preload(user.pk, requests=100)
        with pytest.raises(QuotaExceeded) as info:
            admit(user.pk)

    assert info.value.details == {
        "limit_type": "requests",
        "limit": 100,
        "used": 100,
        "retry_after": 3600,
        "reset_at": "2026-03-02T00:00:00+00:00",
    }
    assert info.value.headers() == {"Retry-After": "3600"}


def test_quota_resets_at_midnight_utc(user, backend):
    quota_override_set(user_id=user.pk, requests_per_day=2)
    with time_machine.travel(datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)) as clock:
        admit(user.pk)
        admit(user.pk)
        with pytest.raises(QuotaExceeded) as info:
            admit(user.pk)
        assert 1 <= info.value.retry_after <= 30

        clock.move_to(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
        reservation = admit(user.pk)

    assert reservation.day.isoformat() == "2026-03-02"
    assert reservation.quota.remaining_requests == 1


def test_staff_override_raises_the_limit(user, backend):
    preload(user.pk, requests=100)
    with pytest.raises(QuotaExceeded):
        admit(user.pk)

    quota_override_set(user_id=user.pk, requests_per_day=150, tokens_per_day=80_000)
    reservation = admit(user.pk)

    assert reservation.quota.limit_requests == 150
    assert reservation.quota.remaining_requests == 49
    assert reservation.quota.limit_tokens == 80_000


def test_the_callers_plan_sets_the_limits_and_an_override_still_applies(user, backend):
    from dataclasses import replace

    from billing.selectors import plan_info_for_user_id

    free = plan_info_for_user_id(user_id=user.pk)
    known = replace(free, requests_per_day=150, tokens_per_day=60_000)
    preload(user.pk, requests=100)  # the stored plan (Free) is used up
    reservation = admit(user.pk, plan=known)
    assert reservation.quota.limit_requests == 150
    assert reservation.quota.limit_tokens == 60_000

    quota_override_set(user_id=user.pk, requests_per_day=102)
    admit(user.pk, plan=known)  # 102 of 102
    with pytest.raises(QuotaExceeded):
        admit(user.pk, plan=known)


def test_temporary_boost_applies_until_its_end_date(user, backend):
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        preload(user.pk, requests=100)
        quota_override_set(
            user_id=user.pk,
            boost_requests=2,
            boost_tokens=1_000,
            boost_until=start + timedelta(hours=1),
        )
        assert admit(user.pk).quota.limit_requests == 102
        assert quota_state_for_user(user_id=user.pk).limit_tokens == 51_000

        clock.move_to(start + timedelta(hours=1, seconds=1))
        with pytest.raises(QuotaExceeded) as info:
            admit(user.pk)
        assert info.value.details["limit"] == 100


def test_unlimited_override_admits_past_the_plan_and_says_unlimited(user, backend):
    preload(user.pk, requests=100, tokens=50_000)
    quota_override_set(user_id=user.pk, unlimited=True)

    reservation = admit(user.pk, prompt=10, max_tokens=1_000_000)

    assert reservation.max_tokens == 1_000_000
    headers = quota_headers(reservation.quota)
    assert headers["X-RateLimit-Limit-Requests"] == "unlimited"
    assert headers["X-RateLimit-Remaining-Tokens"] == "unlimited"


def test_quota_headers_show_limits_remaining_and_the_reset_epoch(user, backend):
    reservation = admit(user.pk, prompt=10, max_tokens=90)

    headers = quota_headers(reservation.quota)

    assert headers == {
        "X-RateLimit-Limit-Requests": "100",
        "X-RateLimit-Remaining-Requests": "99",
        "X-RateLimit-Limit-Tokens": "50000",
        "X-RateLimit-Remaining-Tokens": "49900",
        "X-RateLimit-Reset": str(int(reservation.quota.reset_at.timestamp())),
    }


def test_per_user_rate_limit_answers_429_with_retry_after(user, backend, settings):
    settings.RATELIMIT_AI_PER_USER = "3/m"
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)) as clock:
        for _ in range(3):
            admit(user.pk)
        with pytest.raises(RateLimited) as info:
            admit(user.pk)

        clock.move_to(datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC))
        admit(user.pk)  # a new minute

    assert info.value.code == "rate_limited"
    assert info.value.status_code == 429
    assert info.value.details["scope"] == "user"
    assert 49 <= int(info.value.headers()["Retry-After"]) <= 50
    with time_machine.travel(datetime(2026, 3, 1, 12, 1, 1, tzinfo=UTC)):
        assert quota_state_for_user(user_id=user.pk).requests_used == 4


def test_per_ip_rate_limit_spans_users(user, other_user, backend, settings):
    settings.RATELIMIT_AI_PER_IP = "2/m"
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)):
        admit(user.pk, ip="203.0.113.9")
        admit(other_user.pk, ip="203.0.113.9")
        with pytest.raises(RateLimited) as info:
            admit(other_user.pk, ip="203.0.113.9")
        admit(other_user.pk, ip="198.51.100.7")

    assert info.value.details["scope"] == "ip"


def test_unreachable_redis_uses_the_database_and_stays_exact(user, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    quota_override_set(user_id=user.pk, requests_per_day=2)

    first = admit(user.pk, prompt=10, max_tokens=10)
    admit(user.pk, prompt=10, max_tokens=10)
    with pytest.raises(QuotaExceeded):
        admit(user.pk)

    assert first.backend == "database"
    assert QuotaCounter.objects.get(user=user).requests == 2
    state = settle(first, prompt=10, completion=3)
    assert state.tokens_used == 13
    assert quota_state_for_user(user_id=user.pk).tokens_used == 13
    assert UsageRecord.objects.filter(event_key=first.id).exists()


def test_database_fallback_starts_from_usage_already_recorded_today(user, settings):
    settings.REDIS_URL = ""
    reservation = admit(user.pk)
    settle(reservation, prompt=10, completion=5)
    QuotaCounter.objects.all().delete()  # as if the day began on Redis

    fresh = admit(user.pk)

    assert fresh.quota.requests_used == 2
    assert fresh.quota.tokens_used == 15


def test_redis_going_down_before_settlement_still_records_the_call(
    user, settings, redis_url
):
    settings.REDIS_URL = redis_url
    reservation = admit(user.pk, prompt=10, max_tokens=10)
    assert reservation.backend == "redis"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    quota_redis.reset_state()

    state = settle(reservation, prompt=10, completion=2)

    assert state == reservation.quota
    assert UsageRecord.objects.get(event_key=reservation.id).total_tokens == 12


def test_sweeper_frees_tokens_of_a_call_that_died(user, backend):
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        reservation = admit(user.pk, prompt=100, max_tokens=900)
        assert services.usage_reservations_sweep() == 0

        clock.move_to(
            start + timedelta(seconds=settings.QUOTA_RESERVATION_TTL_SECONDS + 1)
        )
        assert services.usage_reservations_sweep() == 1
        state = quota_state_for_user(user_id=user.pk)
        assert state.tokens_reserved == 0
        assert state.remaining_tokens == 50_000
        assert state.requests_used == 1  # the admitted request still counts

        assert services.usage_reservations_sweep() == 0

        # The call was only slow: its late settlement still counts and is recorded.
        late = settle(reservation, prompt=100, completion=50)
        assert (late.tokens_used, late.tokens_reserved, late.requests_used) == (
            150,
            0,
            1,
        )
        again = settle(reservation, prompt=100, completion=50)
        assert again.tokens_used == 150
    drain()
    assert UsageRecord.objects.get(event_key=reservation.id).total_tokens == 150


def test_late_failure_after_the_sweep_uncounts_the_request(user, backend):
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        reservation = admit(user.pk, prompt=100, max_tokens=900)
        clock.move_to(
            start + timedelta(seconds=settings.QUOTA_RESERVATION_TTL_SECONDS + 1)
        )
        services.usage_reservations_sweep()

        state = settle(reservation, status=CallStatus.ERROR, prompt=0, completion=0)

    assert (state.requests_used, state.tokens_used, state.tokens_reserved) == (0, 0, 0)


def test_settlement_records_every_field_of_the_event(user, backend):
    from decimal import Decimal

    reservation = admit(user.pk, prompt=10, max_tokens=90, endpoint="chat.stream")
    event = make_event(
        reservation,
        prompt=10,
        completion=7,
        endpoint="chat.stream",
        model="gpt-x",
        provider="openai",
        cost=Decimal("0.001234"),
        latency_ms=321,
        request_id="req-abc",
        estimated=True,
    )
    settle(reservation, event)
    drain()

    record = UsageRecord.objects.get(event_key=reservation.id)
    assert record.user_id == user.pk
    assert (record.endpoint, record.model, record.provider) == (
        "chat.stream",
        "gpt-x",
        "openai",
    )
    assert (record.prompt_tokens, record.completion_tokens, record.total_tokens) == (
        10,
        7,
        17,
    )
    assert record.cost == Decimal("0.001234")
    assert record.currency == "USD"
    assert record.latency_ms == 321
    assert record.request_id == "req-abc"
    assert record.status == "success"
    assert record.estimated is True


def test_fallback_starts_from_what_redis_last_reported(user, settings, redis_url):
    settings.REDIS_URL = redis_url
    quota_override_set(user_id=user.pk, requests_per_day=3)
    settle(admit(user.pk, prompt=10, max_tokens=10), prompt=10, completion=10)
    admit(user.pk, prompt=10, max_tokens=10)  # 2 of 3 used on Redis, not drained
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # Redis goes away

    fallback = admit(user.pk)
    with pytest.raises(QuotaExceeded):
        admit(user.pk)

    assert fallback.backend == "database"
    assert fallback.quota.requests_used == 3
    assert fallback.quota.tokens_used == 20 + 20  # used + still reserved on Redis


def test_rate_limits_are_off_when_ratelimit_enable_is_false(user, backend, settings):
    settings.RATELIMIT_AI_PER_USER = "1/m"
    settings.RATELIMIT_ENABLE = False

    admit(user.pk)
    admit(user.pk)

    assert quota_state_for_user(user_id=user.pk).requests_used == 2


def test_whole_redis_outage_cache_included_is_served_by_the_database(user, settings):
    down = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = down
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": down,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    quota_override_set(user_id=user.pk, requests_per_day=1)

    reservation = admit(user.pk)
    with pytest.raises(QuotaExceeded):
        admit(user.pk)
    state = settle(reservation, prompt=10, completion=1)

    assert reservation.backend == "database"
    assert state.tokens_used == 11
    assert quota_state_for_user(user_id=user.pk).remaining_requests == 0


def _subscribe(user, slug: str) -> None:
    """A live subscription row, as billing's webhook sync leaves it."""
    from billing.models import Plan, Provider, Subscription, SubscriptionStatus
    from billing.selectors import plan_cache_invalidate

    Subscription.objects.filter(user=user).update(
        live_user=None, status=SubscriptionStatus.CANCELED
    )
    Subscription.objects.create(
        user=user,
        plan=Plan.objects.get(slug=slug),
        provider=Provider.STRIPE,
        external_id=f"sub_{slug}_{user.pk}",
        status=SubscriptionStatus.ACTIVE,
        live_user=user.pk,
        current_period_end=datetime.now(tz=UTC) + timedelta(days=30),
    )
    plan_cache_invalidate(user_id=user.pk)


def test_upgrading_mid_day_applies_the_new_limits_and_keeps_the_usage(user, backend):
    preload(user.pk, requests=100, tokens=1_000)
    with pytest.raises(QuotaExceeded):
        admit(user.pk)

    _subscribe(user, "pro")
    reservation = admit(user.pk, prompt=10, max_tokens=90)

    assert reservation.quota.limit_requests == 10_000
    assert reservation.quota.remaining_requests == 10_000 - 101
    assert reservation.quota.limit_tokens == 5_000_000
    assert reservation.quota.remaining_tokens == 5_000_000 - 1_000 - 100


def test_business_plan_is_unlimited(user, backend):
    _subscribe(user, "business")
    preload(user.pk, requests=1_000_000, tokens=10**9)

    reservation = admit(user.pk, prompt=10, max_tokens=4_000)

    assert reservation.max_tokens == 4_000
    assert reservation.quota.limit_requests is None
    assert reservation.quota.remaining_tokens is None
    assert quota_headers(reservation.quota)["X-RateLimit-Limit-Tokens"] == "unlimited"


def test_sweeper_drops_old_fallback_state_but_not_todays(user, settings):
    settings.REDIS_URL = ""
    start = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        settle(admit(user.pk), prompt=1, completion=1)
        clock.move_to(start + timedelta(days=8))
        today = admit(user.pk)

        services.usage_reservations_sweep()

    from usage.models import QuotaReservation

    assert list(QuotaReservation.objects.values_list("pk", flat=True)) == [today.id]
    assert list(QuotaCounter.objects.values_list("day", flat=True)) == [today.day]
    assert UsageRecord.objects.count() == 1  # usage history is kept


def test_redis_that_stops_answering_mid_burst_never_lets_the_fallback_over_admit(
    user, settings, redis_url, monkeypatch
):
    """One unit left: call A's admission is on Redis, its answer not back yet, when
    Redis stops answering call B. B's database fallback must count A (in doubt)."""
    import asyncio

    import redis as redis_lib
    from asgiref.sync import async_to_sync

    settings.REDIS_URL = redis_url
    quota_override_set(user_id=user.pk, requests_per_day=1)
    preload(user.pk)  # Redis knows the user's day: one admit round trip per call
    real_handle = quota_redis.async_handle
    a_sent = asyncio.Event()
    release = asyncio.Event()
    calls = []

    class SlowThenDead:
        def __init__(self, real):
            self.client = real.client
            self.settle = real.settle
            self.real = real

        async def admit(self, *, keys, args):
            calls.append(1)
            if len(calls) == 1:  # A: Redis admits it; the answer is slow
                answer = await self.real.admit(keys=keys, args=args)
                a_sent.set()
                await release.wait()
                return answer
            raise redis_lib.ConnectionError("Connection closed by server")  # B

    monkeypatch.setattr(
        quota_redis, "async_handle", lambda: SlowThenDead(real_handle())
    )

    async def burst():
        a = asyncio.ensure_future(
            services.usage_admit(
                user_id=user.pk, ip=None, prompt_tokens=1, max_tokens=1, endpoint="t"
            )
        )
        await a_sent.wait()
        try:
            await services.usage_admit(
                user_id=user.pk, ip=None, prompt_tokens=1, max_tokens=1, endpoint="t"
            )
            b = "admitted"
        except QuotaExceeded:
            b = "refused"
        release.set()
        return (await a).backend, b

    assert async_to_sync(burst)() == ("redis", "refused")


def test_a_redis_timeout_refuses_that_call_only_and_starts_no_failover_hold(
    user, settings, redis_url, monkeypatch
):
    """A late Redis reply (a loaded process) is no outage: that call gets 503
    quota_unavailable, the next one is admitted on Redis at once."""
    import redis as redis_lib
    from asgiref.sync import async_to_sync

    from flowmatik.errors import ServiceUnavailable

    settings.REDIS_URL = redis_url
    settings.QUOTA_FAILOVER_HOLD_SECONDS = 120.0
    quota_override_set(user_id=user.pk, requests_per_day=5)
    preload(user.pk)
    real_handle = quota_redis.async_handle
    late = [True]

    class LateOnce:
        def __init__(self, real):
            self.client = real.client
            self.settle = real.settle
            self.real = real

        async def admit(self, *, keys, args):
            if late.pop() if late else False:
                raise redis_lib.TimeoutError("Timeout reading from socket")
            return await self.real.admit(keys=keys, args=args)

    monkeypatch.setattr(quota_redis, "async_handle", lambda: LateOnce(real_handle()))

    def call():
        return async_to_sync(services.usage_admit)(
            user_id=user.pk, ip=None, prompt_tokens=1, max_tokens=1, endpoint="t"
        )

    with pytest.raises(ServiceUnavailable) as refused:
        call()
    assert refused.value.code == "quota_unavailable"
    assert quota_redis.hold_remaining() == 0
    assert call().backend == "redis"


def test_a_burst_past_the_redis_pool_is_busy_not_an_outage(user, settings, redis_url):
    """Every connection of the process's Redis pool in use (a burst of concurrent AI
    calls): a call waits up to QUOTA_REDIS_TIMEOUT_SECONDS for one, then gets 503
    quota_unavailable — and no failover hold starts, so the next call is admitted on
    Redis as soon as a connection is free. redis-py's default pool failed at once
    with MaxConnectionsError past 100 connections, which read as Redis being down:
    120 s of 503s for every call of the process (seen in `make bench`'s fan-out)."""
    import time

    from asgiref.sync import async_to_sync

    from flowmatik.errors import ServiceUnavailable

    settings.REDIS_URL = redis_url
    settings.QUOTA_FAILOVER_HOLD_SECONDS = 120.0
    settings.QUOTA_REDIS_TIMEOUT_SECONDS = 0.3
    settings.REDIS_ASYNC_MAX_CONNECTIONS = 4
    quota_override_set(user_id=user.pk, requests_per_day=5)
    preload(user.pk)

    async def admit():
        return await services.usage_admit(
            user_id=user.pk, ip=None, prompt_tokens=1, max_tokens=1, endpoint="t"
        )

    async def scenario():
        pool = quota_redis.async_handle().client.connection_pool
        taken = [await pool.get_connection() for _ in range(pool.max_connections)]
        started = time.monotonic()
        try:
            with pytest.raises(ServiceUnavailable) as refused:
                await admit()
            waited = time.monotonic() - started
        finally:
            for connection in taken:
                await pool.release(connection)
        return refused.value.code, waited, (await admit()).backend

    code, waited, backend = async_to_sync(scenario)()
    assert code == "quota_unavailable"
    assert 0.25 <= waited < 2
    assert quota_redis.hold_remaining() == 0
    assert backend == "redis"
