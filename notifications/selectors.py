"""Notification reads: a user's own notifications plus the broadcasts."""

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, Q, QuerySet

from notifications.models import BroadcastReceipt, Notification

if TYPE_CHECKING:
    from accounts.models import User


def notification_list_for_user(
    *, user: "User", since: datetime | None = None, unread_only: bool = False
) -> QuerySet[Notification]:
    """The user's own notifications plus the broadcasts sent since they joined.

    Without `since`: newest first. With `since`: only those created strictly after
    it, oldest first, so a reconnecting client replays them in order and passes the
    last `created_at` it saw as the next `since`. Rows carry `broadcast_read`.
    """
    queryset = Notification.objects.filter(
        Q(user=user) | Q(user__isnull=True, created_at__gte=user.date_joined)
    ).annotate(
        broadcast_read=Exists(
            BroadcastReceipt.objects.filter(notification=OuterRef("pk"), user=user)
        )
    )
    if unread_only:
        queryset = queryset.filter(
            Q(user=user, read_at__isnull=True)
            | Q(user__isnull=True, broadcast_read=False)
        )
    if since is not None:
        return queryset.filter(created_at__gt=since).order_by("created_at", "id")
    return queryset.order_by("-created_at", "-id")


def notification_is_read(notification: Notification) -> bool:
    if notification.user_id is None:
        return bool(getattr(notification, "broadcast_read", False))
    return notification.read_at is not None


def notification_unread_count(*, user: "User") -> int:
    """How many of the user's notifications (own and broadcasts) are unread."""
    return notification_list_for_user(user=user, unread_only=True).count()
