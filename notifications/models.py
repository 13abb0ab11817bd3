"""Notification tables: stored notifications (so clients can fetch what they missed)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NotificationKind(models.TextChoices):
    QUOTA_WARNING = "quota.warning", _("Quota 80%")
    QUOTA_EXCEEDED = "quota.exceeded", _("Quota 100%")
    PAYMENT_SUCCEEDED = "payment.succeeded", _("Payment succeeded")
    PAYMENT_FAILED = "payment.failed", _("Payment failed")
    SUBSCRIPTION_CHANGED = "subscription.changed", _("Subscription changed")
    JOB_PROGRESS = "job.progress", _("Content job progress")
    JOB_COMPLETED = "job.completed", _("Content job completed")
    BROADCAST = "broadcast", _("Announcement")


class Notification(models.Model):
    """One event for one user; `user=None` is a broadcast to everyone."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Set by senders that may run twice (Celery retries, webhook redelivery): a
    # second send with the same key stores and pushes nothing.
    dedupe_key = models.CharField(max_length=191, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table was created by the `dashboard` app, where notifications lived
        # first; keeping its name made the move a state-only migration.
        db_table = "dashboard_notification"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="notif_user_created_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title}"


class BroadcastReceipt(models.Model):
    """A user has read a broadcast (`Notification.user` is None, so its own
    `read_at` cannot say who read it)."""

    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="receipts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="broadcast_receipts",
    )
    read_at = models.DateTimeField()

    class Meta:
        db_table = "dashboard_broadcastreceipt"
        constraints = [
            models.UniqueConstraint(
                fields=["notification", "user"], name="broadcast_receipt_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.notification_id}"
