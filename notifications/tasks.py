"""Celery entry points of notifications: deliver a notification from a worker."""

from celery import shared_task
from django.contrib.auth import get_user_model

from notifications.services import notification_send


@shared_task(
    name="notifications.notification_deliver",
    acks_late=True,
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def notification_deliver(
    *,
    user_id: int | None,
    kind: str,
    title: str,
    body: str = "",
    data: dict | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Store and push one notification (user_id None = broadcast); returns its id.

    Idempotent when the caller passes `dedupe_key` (a retry notifies once). A user
    deleted meanwhile is not an error: there is nobody to notify.
    """
    user = None
    if user_id is not None:
        user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
        if user is None:
            return None
    notification = notification_send(
        user=user, kind=kind, title=title, body=body, data=data, dedupe_key=dedupe_key
    )
    return notification.pk
