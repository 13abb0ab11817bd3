"""Notification services and the Celery task: stored once, pushed after commit."""

import pytest

from flowmatik import realtime
from notifications.models import Notification, NotificationKind
from notifications.services import notification_broadcast, notification_send
from notifications.tasks import notification_deliver


@pytest.fixture
def pushes(monkeypatch):
    sent = []
    monkeypatch.setattr(realtime, "_send", lambda group, event: sent.append(group))
    return sent


def test_push_happens_only_when_the_transaction_commits(
    user, pushes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        notification_send(user=user, kind=NotificationKind.QUOTA_WARNING, title="80%")
    assert pushes == []
    for callback in callbacks:
        callback()
    assert pushes == [realtime.user_group(user.pk)]


def test_same_dedupe_key_stores_and_pushes_once(
    user, pushes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = notification_send(
            user=user,
            kind=NotificationKind.PAYMENT_SUCCEEDED,
            title="Paid",
            dedupe_key="payment.succeeded:pi_1",
        )
        again = notification_send(
            user=user,
            kind=NotificationKind.PAYMENT_SUCCEEDED,
            title="Paid",
            dedupe_key="payment.succeeded:pi_1",
        )
    assert again.pk == first.pk
    assert Notification.objects.count() == 1
    assert len(pushes) == 1


def test_admin_broadcast_is_stored_without_user_and_pushed_to_everyone(
    db, pushes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        sent = notification_broadcast(title="New models", body="Try them")
    assert (sent.user, sent.kind, sent.body) == (None, "broadcast", "Try them")
    assert pushes == [realtime.BROADCAST_GROUP]


def test_task_run_twice_with_a_dedupe_key_notifies_once(
    user, pushes, django_capture_on_commit_callbacks
):
    kwargs = {
        "user_id": user.pk,
        "kind": NotificationKind.JOB_COMPLETED,
        "title": "Image ready",
        "data": {"job_id": 3},
        "dedupe_key": "job.completed:3",
    }
    with django_capture_on_commit_callbacks(execute=True):
        first = notification_deliver.apply(kwargs=kwargs).get()
        second = notification_deliver.apply(kwargs=kwargs).get()
    assert first == second
    assert Notification.objects.filter(user=user).count() == 1
    assert pushes == [realtime.user_group(user.pk)]


def test_task_for_a_deleted_user_does_nothing(db):
    result = notification_deliver.apply(
        kwargs={"user_id": 999_999, "kind": "job.completed", "title": "x"}
    ).get()
    assert result is None
    assert not Notification.objects.exists()


def test_a_layer_failure_is_counted_not_raised(user, monkeypatch):
    class BrokenLayer:
        async def group_send(self, group, message):
            raise ConnectionError("redis down")

    monkeypatch.setattr(realtime, "get_channel_layer", lambda: BrokenLayer())
    realtime._send(realtime.user_group(user.pk), {"type": "notification"})
    assert realtime.realtime_metrics()["push_failed"] == 1
