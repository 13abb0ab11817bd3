"""Celery entry points of the webhooks app: process one stored event; re-queue."""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from webhooks_app.services import (
    webhook_event_process,
    webhook_events_requeue_stale,
)

logger = logging.getLogger("flowmatik.webhooks_app")


def webhook_retry_countdown(*, retries: int) -> int:
    """Seconds before retry number `retries + 1`: exponential, capped, full jitter."""
    return get_exponential_backoff_interval(
        factor=settings.WEBHOOK_RETRY_BACKOFF_SECONDS,
        retries=retries,
        maximum=settings.WEBHOOK_RETRY_BACKOFF_MAX_SECONDS,
        full_jitter=True,
    )


@shared_task(bind=True, name="webhooks.process_event", max_retries=None)
def webhook_event_process_task(self, event_pk: int) -> str | None:
    """Process one stored event; retry with backoff, then leave it `failed`.

    Takes an id and is idempotent: the service claims the row under a lock and
    skips events already processed, so a redelivered message has no effect.
    """
    final = self.request.retries >= settings.WEBHOOK_MAX_RETRIES
    try:
        return webhook_event_process(
            event_pk=event_pk, final_attempt=final, claimant=self.request.id or ""
        )
    except Exception as exc:
        if final:
            logger.error(
                "Webhook event dead-lettered after retries",
                extra={"event_pk": event_pk, "attempts": self.request.retries + 1},
            )
            return "failed"
        raise self.retry(
            exc=exc, countdown=webhook_retry_countdown(retries=self.request.retries)
        ) from exc


@shared_task(name="webhooks.requeue_stale_events")
def webhook_events_requeue_stale_task() -> int:
    """Re-queue stored events whose processing message was lost (periodic)."""
    return webhook_events_requeue_stale()
