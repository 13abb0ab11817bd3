"""Dashboard writes: storing notifications and pushing them live."""

from typing import Any

from django.db import transaction

from dashboard.models import Notification
from flowmatik import realtime


def notification_serialize(notification: Notification) -> dict[str, Any]:
    return {
        "type": "notification",
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
    }


@transaction.atomic
def notification_send(
    *, user, kind: str, title: str, body: str = "", data: dict[str, Any] | None = None
) -> Notification:
    """Store a notification for `user` (None = broadcast) and push it after commit."""
    notification = Notification.objects.create(
        user=user, kind=kind, title=title, body=body, data=data or {}
    )
    event = notification_serialize(notification)
    if user is None:
        realtime.push_broadcast(event=event)
    else:
        realtime.push_to_user(user_id=user.pk, event=event)
    return notification
