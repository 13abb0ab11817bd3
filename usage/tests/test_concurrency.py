"""Quotas hold under a burst of parallel admissions (threads, own event loop each).

The database variant proves the race on MariaDB (CI), where threads really run
concurrently against one row; on SQLite the engine (and `quota_db.serialized`)
admits one writer at a time, so there it shows exactness without a single error.
"""

import pytest

from usage.daily_limits import utc_today
from usage.errors import QuotaExceeded
from usage.models import QuotaCounter, QuotaReservation
from usage.selectors import quota_state_for_user
from usage.tests.conftest import admit, preload, run_in_threads
from usage.types import Reservation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _patient_redis(settings):
    # 50 threads each opening a connection on a busy CI machine: the test is about
    # atomicity, so a slow connect must not push a thread onto the fallback.
    settings.QUOTA_REDIS_TIMEOUT_SECONDS = 10.0


@pytest.fixture
def concurrent_backend(backend):
    return backend


def test_exactly_one_of_50_concurrent_admissions_takes_the_last_request(
    user, concurrent_backend
):
    preload(user.pk, requests=99)
    quota_state_for_user(user_id=user.pk)  # warm the plan cache like a live server

    results = run_in_threads(50, lambda: admit(user.pk, prompt=5, max_tokens=5))

    admitted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(admitted) == 1, results
    assert len(refused) == 49
    assert {e.details["limit_type"] for e in refused} == {"requests"}
    assert admitted[0].backend == concurrent_backend
    state = quota_state_for_user(user_id=user.pk)
    assert state.requests_used == 100
    assert state.remaining_requests == 0
    assert state.tokens_reserved == 10


def test_concurrent_token_reservations_never_exceed_the_allowance(
    user, concurrent_backend
):
    preload(user.pk, tokens=40_000)  # 10,000 of the Free plan's 50,000 left
    quota_state_for_user(user_id=user.pk)

    results = run_in_threads(30, lambda: admit(user.pk, prompt=1_000, max_tokens=3_000))

    admitted = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(admitted) + len(refused) == 30, results
    reserved = sum(r.tokens_reserved for r in admitted)
    assert reserved <= 10_000
    # Reservations are clamped, so the allowance is used up to what fits.
    assert reserved > 10_000 - 1_001
    assert all(r.max_tokens <= 3_000 for r in admitted)
    assert {e.details["limit_type"] for e in refused} == {"tokens"}
    state = quota_state_for_user(user_id=user.pk)
    assert state.tokens_reserved == reserved
    assert state.remaining_tokens == 10_000 - reserved
    if concurrent_backend == "database":
        assert QuotaReservation.objects.count() == len(admitted)


def test_unreachable_redis_falls_back_to_an_exact_database_count(user, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    QuotaCounter.objects.create(user=user, day=utc_today(), requests=99)

    results = run_in_threads(50, lambda: admit(user.pk, prompt=5, max_tokens=5))

    admitted = [r for r in results if isinstance(r, Reservation)]
    assert len(admitted) == 1, results
    assert all(isinstance(r, Reservation | QuotaExceeded) for r in results), (
        results
    )  # refusals, never crashes
    assert admitted[0].backend == "database"
    assert QuotaCounter.objects.get(user=user).requests == 100
