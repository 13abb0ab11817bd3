"""Settling a served call on the database rides through a dropped connection for
`USAGE_SETTLE_DB_RETRY_SECONDS` (a time budget, not a count of attempts: kills that
keep coming for a second used to exhaust five quick attempts and lose the record)."""

import time

import pytest
from django.db import OperationalError

from usage.services import quota


def _flaky_settle(monkeypatch, *, fails_for: float):
    started = time.monotonic()
    calls = []

    def settle(**kwargs):
        calls.append(time.monotonic() - started)
        if time.monotonic() - started < fails_for:
            raise OperationalError(2013, "Lost connection to server during query")
        return "settled"

    monkeypatch.setattr(quota, "_db_settle", settle)
    return calls


def test_the_settlement_is_retried_until_the_database_answers(monkeypatch, settings):
    settings.USAGE_SETTLE_DB_BACKOFF_SECONDS = 0.01
    settings.USAGE_SETTLE_DB_RETRY_SECONDS = 5
    calls = _flaky_settle(monkeypatch, fails_for=1.2)
    assert quota._db_settle_retrying(reservation=None, payload={}, limits=None) == (
        "settled"
    )
    assert calls[-1] >= 1.2
    assert len(calls) > 5  # more than the old fixed five attempts
    # the backoff doubles up to a second, no more
    assert all(b - a <= 1.0 + 0.5 for a, b in zip(calls, calls[1:], strict=False))


def test_a_database_down_longer_than_the_budget_fails_the_settlement(
    monkeypatch, settings
):
    settings.USAGE_SETTLE_DB_BACKOFF_SECONDS = 0.05
    settings.USAGE_SETTLE_DB_RETRY_SECONDS = 0.6
    calls = _flaky_settle(monkeypatch, fails_for=60)
    started = time.monotonic()
    with pytest.raises(OperationalError):
        quota._db_settle_retrying(
            reservation=None, payload={"event_key": "k"}, limits=None
        )
    assert time.monotonic() - started < 0.6 + 0.5
    assert len(calls) >= 3
