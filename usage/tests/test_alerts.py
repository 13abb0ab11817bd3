"""80% and 100% alerts: stored notifications, once per day each, e-mail at 100%."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core import mail

from notifications.models import Notification, NotificationKind
from usage.models import QuotaAlert
from usage.services import quota_override_set
from usage.tasks import usage_quota_exceeded_email
from usage.tests.conftest import admit, drain, settle
from usage.types import CallStatus

pytestmark = pytest.mark.django_db


def _call(user, *, status=CallStatus.SUCCESS):
    settle(
        admit(user.pk, prompt=10, max_tokens=10), status=status, prompt=10, completion=5
    )
    drain()


def _kinds(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user)
        .order_by("id")
        .values_list("kind", flat=True)
    )


def test_alerts_fire_at_80_and_100_percent_once_per_day(
    user, backend, django_capture_on_commit_callbacks
):
    quota_override_set(user_id=user.pk, requests_per_day=10)
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) as clock:
        for _ in range(7):
            _call(user)
        assert _kinds(user) == []

        _call(user)  # 8 of 10
        assert _kinds(user) == [NotificationKind.QUOTA_WARNING]
        _call(user)  # 9 of 10: still one warning
        assert _kinds(user) == [NotificationKind.QUOTA_WARNING]

        with django_capture_on_commit_callbacks() as callbacks:
            _call(user)  # 10 of 10
        assert _kinds(user) == [
            NotificationKind.QUOTA_WARNING,
            NotificationKind.QUOTA_EXCEEDED,
        ]
        exceeded = Notification.objects.get(kind=NotificationKind.QUOTA_EXCEEDED)
        assert exceeded.data["limit_type"] == "requests"
        assert exceeded.data["used"] == 10
        assert len(QuotaAlert.objects.filter(user=user, level=100)) == 1
        assert len(callbacks) >= 1  # the e-mail task, queued after commit

        clock.move_to(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
        for _ in range(8):
            _call(user)
        assert _kinds(user)[-1] == NotificationKind.QUOTA_WARNING
        assert len(_kinds(user)) == 3


def test_token_limit_crossing_alerts_with_the_token_numbers(user, backend):
    quota_override_set(user_id=user.pk, tokens_per_day=100)
    settle(admit(user.pk, prompt=10, max_tokens=80), prompt=10, completion=75)
    drain()

    alert = Notification.objects.get(user=user)
    assert alert.kind == NotificationKind.QUOTA_WARNING
    assert alert.data == {
        "level": 80,
        "limit_type": "tokens",
        "limit": 100,
        "used": 85,
        "day": alert.data["day"],
    }


def test_failed_calls_do_not_trigger_alerts(user, backend):
    quota_override_set(user_id=user.pk, requests_per_day=2)
    _call(user, status=CallStatus.ERROR)
    _call(user, status=CallStatus.ERROR)
    assert _kinds(user) == []


def test_exceeded_email_is_sent_once(user, backend):
    quota_override_set(user_id=user.pk, requests_per_day=1)
    _call(user)
    alert = QuotaAlert.objects.get(user=user, level=100)

    assert usage_quota_exceeded_email(alert.pk) is True
    assert usage_quota_exceeded_email(alert.pk) is False

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    assert "quota" in mail.outbox[0].subject
