"""Notification writes: storing notifications, pushing them live, marking them read."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from flowmatik import realtime
from notifications.models import BroadcastReceipt, Notification, NotificationKind

if TYPE_CHECKING:
    from accounts.models import User


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


def notification_send(
    *,
    user: "User | None",
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Notification:
    """Store a notification for `user` (None = broadcast) and push it after commit.

    With `dedupe_key`, a second call with the same key returns the stored
    notification and pushes nothing, so Celery retries and webhook redeliveries
    notify once.
    """
    if dedupe_key:
        existing = Notification.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                user=user,
                kind=kind,
                title=title,
                body=body,
                data=data or {},
                dedupe_key=dedupe_key or None,
            )
            event = notification_serialize(notification)
            if user is None:
                realtime.push_broadcast(event=event)
            else:
                realtime.push_to_user(user_id=user.pk, event=event)
    except IntegrityError:
        if not dedupe_key:
            raise
        return Notification.objects.get(dedupe_key=dedupe_key)
    return notification


def notification_broadcast(
    *, title: str, body: str = "", data: dict[str, Any] | None = None
) -> Notification:
    """An admin announcement: stored once, pushed to every connected socket."""
    return notification_send(
        user=None, kind=NotificationKind.BROADCAST, title=title, body=body, data=data
    )


@transaction.atomic
def notification_mark_read(
    *, user: "User", ids: Iterable[int] | None = None, mark_all: bool = False
) -> int:
    """Mark the user's own notifications and broadcasts read; returns how many
    were unread and are now read. Ids of other users' notifications are ignored."""
    now = timezone.now()
    own = Notification.objects.filter(user=user, read_at__isnull=True)
    broadcasts = Notification.objects.filter(
        user__isnull=True, created_at__gte=user.date_joined
    ).exclude(receipts__user=user)
    if not mark_all:
        wanted = list(ids or [])
        own, broadcasts = own.filter(pk__in=wanted), broadcasts.filter(pk__in=wanted)
    marked = own.update(read_at=now)
    broadcast_ids = list(broadcasts.values_list("pk", flat=True))
    BroadcastReceipt.objects.bulk_create(
        [
            BroadcastReceipt(notification_id=pk, user=user, read_at=now)
            for pk in broadcast_ids
        ],
        ignore_conflicts=True,
    )
    return marked + len(broadcast_ids)
