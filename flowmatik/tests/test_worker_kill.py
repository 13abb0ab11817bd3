"""A Celery worker killed with SIGKILL mid-task: another worker runs the task
again and its effect happens once (issue 19).

Two real workers (`celery -A flowmatik worker`, flowmatik/testing/platform.py) on
the test database consume a queue of this test's own on the Redis broker. A task
is sent; the worker that took it is found by its open connection to the provider
it is waiting for (the demo model answering slowly, or a slow fake LemonSqueezy
API) and its whole process group is SIGKILLed. Late acks leave the message
unacknowledged in Redis; after CELERY_VISIBILITY_TIMEOUT the surviving worker's
sweep (CELERY_UNACKED_RESTORE_INTERVAL_SECONDS) puts it back and runs it. The
redelivered message re-claims the job or event its first run had claimed.

Redis only: the embedded filesystem broker deletes a message's file when it hands
it to a worker, so a message whose worker died is never delivered again; there,
the beat sweepers recover the work (`ai.jobs_sweep` after STUDIO_JOB_LEASE_SECONDS,
`webhooks.requeue_stale_events` for events).
"""

import contextlib
import os
import signal
import time
import uuid
from datetime import timedelta

import psutil
import pytest
from django.conf import settings
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.models import Payment, Subscription
from billing.tests.factories import ls_subscription, subscription_row
from flowmatik.celery import app
from flowmatik.testing.payments import LS_VARIANTS
from flowmatik.testing.platform import celery_worker_process, platform_env, wait_for
from notifications.models import Notification, NotificationKind

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180, func_only=True)]

# Longer than the redelivered run, or Redis would hand its message out again.
VISIBILITY_TIMEOUT = 6


@pytest.fixture
def queue(redis_url) -> str:
    return f"test-kill-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def env(tmp_path, catalogue_tx, fake_lemonsqueezy, demo_server) -> dict[str, str]:
    variants = {
        f"LEMONSQUEEZY_VARIANT_{slug.upper()}": variant
        for slug, variant in LS_VARIANTS.items()
    }
    return platform_env(
        workdir=tmp_path,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CELERY_UNACKED_RESTORE_INTERVAL_SECONDS="1",
        QUOTA_REDIS_PREFIX=settings.QUOTA_REDIS_PREFIX,
        AI_DEMO_BASE_URL=demo_server.base_url,
        LEMONSQUEEZY_API_KEY=fake_lemonsqueezy.api_key,
        LEMONSQUEEZY_STORE_ID=str(fake_lemonsqueezy.store_id),
        LEMONSQUEEZY_API_BASE=f"{fake_lemonsqueezy.url}/v1",
        LEMONSQUEEZY_TIMEOUT_SECONDS="10",
        LEMONSQUEEZY_TEST_MODE="true",
        **variants,
    )


@contextlib.contextmanager
def two_workers(tmp_path, env, queue):
    with (
        celery_worker_process(
            workdir=tmp_path, env=env, beat=False, queues=(queue,), name="worker-a"
        ) as a,
        celery_worker_process(
            workdir=tmp_path, env=env, beat=False, queues=(queue,), name="worker-b"
        ) as b,
    ):
        yield a, b


def _until(condition, what: str, diagnose) -> None:
    """`wait_for(condition)`; on timeout, fail with `diagnose()` (logs, rows)."""
    try:
        wait_for(condition, timeout=60, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose()}") from None


def _broker_state(queue: str) -> dict:
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        return {
            "queued": client.llen(queue),
            "unacked": client.zrange("unacked_index", 0, -1, withscores=True),
            "mutex_ttl": client.ttl("unacked_mutex"),
        }
    finally:
        client.close()


def _talking_to(worker, port: int) -> bool:
    """Whether the worker (or its pool child) holds a connection to `port`."""
    try:
        main = psutil.Process(worker.process.pid)
        processes = [main, *main.children(recursive=True)]
        return any(
            conn.raddr and conn.raddr.port == port
            for process in processes
            for conn in process.net_connections(kind="tcp")
        )
    except psutil.NoSuchProcess:
        return False


def _kill_the_busy_one(workers, port: int):
    """SIGKILL the whole worker that is waiting on `port`; returns the survivor."""
    busy = wait_for(
        lambda: next((w for w in workers if _talking_to(w, port)), None),
        timeout=20,
        what=f"a worker to call port {port}",
    )
    os.killpg(busy.process.pid, signal.SIGKILL)
    busy.process.wait(timeout=5)
    return next(w for w in workers if w is not busy)


def test_content_job_whose_worker_is_killed_runs_again_once_on_the_other(
    tmp_path, env, queue, demo_server
):
    from unittest import mock

    from ai.models import ContentJob, JobStatus
    from ai.services.jobs import job_create
    from usage.models import UsageRecord
    from usage.selectors import quota_state_for_user
    from usage.services import usage_events_drain, usage_reservations_sweep

    user = UserFactory()
    subscription_row(user=user, plan="pro")
    with mock.patch("ai.services.jobs.job_enqueue_run"):
        job = job_create(
            user_id=user.pk,
            job_type="email",
            prompt="[[delay:2]] Launch of our cold brew",
            options={"purpose": "welcome"},
        )
    demo_port = int(demo_server.url.rsplit(":", 1)[1])
    with two_workers(tmp_path, env, queue) as workers:
        sent = app.send_task("ai.job_run", args=[job.pk], queue=queue)
        survivor = _kill_the_busy_one(workers, demo_port)
        _until(
            lambda: ContentJob.objects.filter(
                pk=job.pk, status=JobStatus.SUCCEEDED
            ).exists(),
            "the job to succeed",
            lambda: (
                f"{ContentJob.objects.filter(pk=job.pk).values().first()}\n"
                f"{_broker_state(queue)}\n{survivor.output()[-4000:]}"
            ),
        )
        time.sleep(1)  # room for a second run, were there one
    job.refresh_from_db()
    assert job.attempts == 2  # the killed run, then the redelivered message
    assert job.claimed_by == sent.id
    assert "Launch of our cold brew" in job.result_text
    # One call per run (a loaded machine may add a provider-layer retry of a
    # dropped connection); what must happen once is below.
    assert len(demo_server.chat_calls()) >= 2
    # One completion notice, one usage record: the killed run never settled.
    notices = Notification.objects.filter(
        user=user, kind=NotificationKind.JOB_COMPLETED
    )
    assert notices.count() == 1
    usage_events_drain()
    records = UsageRecord.objects.filter(user=user)
    assert list(records.values_list("status", flat=True)) == ["success"]
    assert records.get().completion_tokens == job.completion_tokens
    # The killed run's reservation is held until it expires, then swept back; its
    # request stays counted (it was admitted and reached the provider).
    held = quota_state_for_user(user_id=user.pk)
    assert held.tokens_used == records.get().total_tokens
    assert held.tokens_reserved > 0
    later = timezone.now() + timedelta(seconds=settings.QUOTA_RESERVATION_TTL_SECONDS)
    assert usage_reservations_sweep(now=later + timedelta(seconds=1)) == 1
    swept = quota_state_for_user(user_id=user.pk)
    assert (swept.tokens_reserved, swept.tokens_used) == (0, held.tokens_used)
    assert swept.requests_used == 2


def test_webhook_whose_worker_is_killed_is_applied_once_by_the_other(
    tmp_path, env, queue, fake_lemonsqueezy, client, webhook_secrets
):
    from unittest import mock

    from webhooks_app.models import EventStatus, WebhookEvent
    from webhooks_app.tests.helpers import ls_event, post_lemonsqueezy

    user = UserFactory()
    fake_lemonsqueezy.put_subscription(
        ls_subscription(sub_id="99", status="active", variant_id=LS_VARIANTS["pro"])
    )
    invoice = {
        "type": "subscription-invoices",
        "id": "701",
        "attributes": {
            "subscription_id": 99,
            "customer_id": 7,
            "status": "paid",
            "billing_reason": "renewal",
            "total": 3900,
            "currency": "USD",
            "urls": {"invoice_url": "https://ls.test/invoice/701"},
        },
    }
    event = ls_event(
        "subscription_payment_success", invoice, custom_data={"user_id": str(user.pk)}
    )
    with mock.patch("webhooks_app.services._enqueue") as enqueue:
        assert post_lemonsqueezy(client, event).status_code == 200
    [(pk,)] = [call.args for call in enqueue.call_args_list]
    # The processing's read of the subscription is slow: the kill lands in it.
    fake_lemonsqueezy.delay_next(5.0, match="GET /v1/subscriptions/99")
    ls_port = int(fake_lemonsqueezy.url.rsplit(":", 1)[1])
    with two_workers(tmp_path, env, queue) as workers:
        sent = app.send_task("webhooks.process_event", args=[pk], queue=queue)
        survivor = _kill_the_busy_one(workers, ls_port)
        _until(
            lambda: (
                WebhookEvent.objects.filter(
                    pk=pk, status=EventStatus.PROCESSED
                ).exists()
                # its notices are sent after the commit: wait for them as well
                and Notification.objects.filter(user=user).count() >= 2
            ),
            "the event to be processed",
            lambda: (
                f"{WebhookEvent.objects.filter(pk=pk).values().first()}\n"
                f"{_broker_state(queue)}\n{survivor.output()[-4000:]}"
            ),
        )
        time.sleep(1)  # room for a second run, were there one
    stored = WebhookEvent.objects.get(pk=pk)
    assert (stored.attempts, stored.claimed_by) == (2, sent.id)
    assert len(fake_lemonsqueezy.calls("GET", "/v1/subscriptions/99")) == 2
    sub = Subscription.objects.get(provider="lemonsqueezy", external_id="99")
    assert (sub.user, sub.status, sub.plan.slug) == (user, "active", "pro")
    assert Payment.objects.filter(external_id="invoice:701").count() == 1
    kinds = list(Notification.objects.filter(user=user).values_list("kind", flat=True))
    assert sorted(kinds) == sorted(
        [NotificationKind.SUBSCRIPTION_CHANGED, NotificationKind.PAYMENT_SUCCEEDED]
    )
