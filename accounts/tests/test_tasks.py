"""Celery tasks of accounts: reset e-mails and the periodic token purge."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.tasks import (
    flush_expired_tokens_task,
    password_changed_email_task,
    password_reset_email_task,
)
from accounts.tests.conftest import jwt_login

pytestmark = pytest.mark.django_db


def test_flush_drops_expired_refresh_tokens_and_stale_lockouts(
    api_client, user, time_machine, eager_celery
):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    jwt_login(api_client, user.email)
    AccessAttempt.objects.create(
        username="x@example.com",
        ip_address="1.1.1.1",
        user_agent="t",
        failures_since_start=3,
        attempt_time=timezone.now(),
    )
    assert flush_expired_tokens_task.delay().get() == 0
    assert OutstandingToken.objects.filter(user=user).count() == 1
    assert AccessAttempt.objects.filter(username="x@example.com").exists()

    lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    time_machine.shift(lifetime + timedelta(seconds=1))
    jwt_login(api_client, user.email)  # a live one stays
    assert flush_expired_tokens_task.delay().get() == 1
    assert OutstandingToken.objects.filter(user=user).count() == 1
    assert not AccessAttempt.objects.filter(username="x@example.com").exists()


def test_reset_and_changed_mail_tasks_are_safe_for_unknown_users(eager_celery):
    assert password_reset_email_task.delay(email="nobody@example.com").get() is False
    assert password_changed_email_task.delay(user_id=987654).get() is False
    assert mail.outbox == []


def test_reset_mail_is_sent_after_the_smtp_server_drops_twice(user, flaky_smtp):
    flaky_smtp.failures = 2

    result = password_reset_email_task.apply(kwargs={"email": user.email})

    assert result.get() is True
    assert flaky_smtp.attempts == 3
    assert [m.to for m in mail.outbox] == [[user.email]]
