"""Smoke tests of the admission/settlement seam on both backends."""

import pytest

from usage.errors import QuotaExceeded
from usage.tests.conftest import admit, settle
from usage.types import CallStatus


@pytest.mark.django_db(transaction=True)
def test_admit_then_settle_counts_actual_tokens(user, backend):
    reservation = admit(user.pk, prompt=100, max_tokens=400)
    assert reservation.backend == backend
    assert reservation.tokens_reserved == 500
    assert reservation.quota.remaining_requests == 99
    assert reservation.quota.remaining_tokens == 50_000 - 500
    state = settle(reservation, prompt=100, completion=50)
    assert state.tokens_used == 150
    assert state.tokens_reserved == 0
    assert state.remaining_tokens == 50_000 - 150
    again = settle(reservation, prompt=100, completion=50)
    assert again.tokens_used == 150


@pytest.mark.django_db(transaction=True)
def test_failed_call_returns_request_and_tokens(user, backend):
    reservation = admit(user.pk, prompt=100, max_tokens=400)
    state = settle(reservation, status=CallStatus.ERROR, prompt=0, completion=0)
    assert state.requests_used == 0
    assert state.remaining_requests == 100
    assert state.remaining_tokens == 50_000


@pytest.mark.django_db(transaction=True)
def test_prompt_larger_than_allowance_is_refused(user, backend):
    with pytest.raises(QuotaExceeded) as info:
        admit(user.pk, prompt=50_001, max_tokens=1)
    assert info.value.details["limit_type"] == "tokens"
    assert info.value.details["limit"] == 50_000
