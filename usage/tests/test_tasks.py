"""Background work: the Redis event buffer drain and the beat schedule."""

import json

import pytest
from django.db import OperationalError

from flowmatik.celery import app
from usage import quota_redis, services
from usage.models import UsageDaily, UsageRecord
from usage.services import quota as quota_service
from usage.tasks import usage_events_drain, usage_reservations_sweep
from usage.tests.conftest import admit, settle

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    return quota_redis.sync_client()


@pytest.fixture
def database_refuses_records(monkeypatch):
    """The settle path's write-through fails (as with the database down)."""

    def refuse(*, payload):
        raise OperationalError("database unavailable")

    monkeypatch.setattr(quota_service, "usage_record_store", refuse)


def test_settled_calls_are_in_the_database_at_once_with_nothing_buffered(
    user, on_redis
):
    reservation = admit(user.pk)
    settle(reservation, prompt=10, completion=5)

    assert UsageRecord.objects.get().event_key == reservation.id
    assert on_redis.llen(quota_redis.events_key()) == 0


def test_records_the_database_refused_wait_in_redis_until_the_drain_stores_them(
    user, on_redis, database_refuses_records, monkeypatch
):
    reservation = admit(user.pk)
    settle(reservation, prompt=10, completion=5)
    assert not UsageRecord.objects.exists()
    assert on_redis.llen(quota_redis.events_key()) == 1
    monkeypatch.undo()

    assert usage_events_drain() == 1

    assert UsageRecord.objects.get().event_key == reservation.id
    assert on_redis.llen(quota_redis.events_key()) == 0


def test_drain_after_a_crash_stores_each_event_once(
    user, on_redis, database_refuses_records, monkeypatch
):
    for _ in range(3):
        settle(admit(user.pk), prompt=10, completion=5)
    monkeypatch.undo()
    # A drain that died mid-batch: the batch sits in the processing list and one
    # of its events was already committed.
    take = on_redis.register_script(quota_redis.TAKE_LUA)
    batch = take(
        keys=[quota_redis.events_key(), quota_redis.processing_key()], args=[2]
    )
    services.usage_record_store(payload=json.loads(batch[0]))

    assert services.usage_events_drain() == 3

    assert UsageRecord.objects.count() == 3
    assert sum(UsageDaily.objects.values_list("requests", flat=True)) == 3
    assert on_redis.llen(quota_redis.processing_key()) == 0
    assert services.usage_events_drain() == 0


def test_a_second_drain_waits_while_one_runs(user, on_redis, database_refuses_records):
    settle(admit(user.pk), prompt=10, completion=5)
    on_redis.set(quota_redis.drain_lock_key(), "someone-else", ex=60)

    assert services.usage_events_drain() == 0
    assert on_redis.llen(quota_redis.events_key()) == 1


def test_tasks_do_nothing_without_work(settings):
    settings.REDIS_URL = ""
    assert usage_events_drain() == 0
    assert usage_reservations_sweep() == 0


def test_beat_runs_the_drain_and_the_sweeper():
    schedule = app.conf.beat_schedule
    tasks = {entry["task"] for entry in schedule.values()}

    assert {"usage.drain_events", "usage.sweep_reservations"} <= tasks
    app.loader.import_default_modules()
    assert "usage.drain_events" in app.tasks
    assert "usage.sweep_reservations" in app.tasks
    assert "usage.quota_exceeded_email" in app.tasks


def test_an_unstorable_event_is_set_aside_and_the_rest_are_stored(
    user, other_user, on_redis, database_refuses_records, monkeypatch
):
    settle(admit(other_user.pk), prompt=10, completion=5)
    settle(admit(user.pk), prompt=10, completion=5)
    monkeypatch.undo()
    other_user.delete()  # its buffered event can no longer be stored
    on_redis.rpush(quota_redis.events_key(), '{"kind": "usage"}')  # malformed

    assert services.usage_events_drain() == 3

    assert list(UsageRecord.objects.values_list("user_id", flat=True)) == [user.pk]
    assert on_redis.llen(quota_redis.dead_letter_key()) == 1
    assert on_redis.llen(quota_redis.processing_key()) == 0
