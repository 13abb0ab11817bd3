"""Dashboard tables: staff announcements (what was sent, to whom, how many) and the
queryable copy of recent log records."""

from django.conf import settings
from django.db import models


class AnnouncementAudience(models.TextChoices):
    USER = "user", "One user"
    PLAN = "plan", "Everyone on a plan"
    ALL = "all", "Everyone"


class AnnouncementLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Announcement(models.Model):
    """One staff send: stored as notifications (per user, or one broadcast) and
    pushed live; `recipients` is how many users it reached when sent."""

    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    audience = models.CharField(max_length=8, choices=AnnouncementAudience.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    plan_slug = models.CharField(max_length=32, blank=True)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    level = models.CharField(
        max_length=8,
        choices=AnnouncementLevel.choices,
        default=AnnouncementLevel.INFO,
    )
    email = models.BooleanField(default=False, help_text="Also sent by e-mail.")
    recipients = models.PositiveIntegerField(default=0)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(audience="plan", plan_slug=""),
                name="dashboard_announcement_plan_named",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_audience_display()}: {self.title}"


class LogRecord(models.Model):
    """A recent structured log line (the JSON fields), kept for staff queries.

    Written in batches off the request path by `flowmatik.logstore`; rows older
    than `LOG_STORE_RETENTION_HOURS` or beyond `LOG_STORE_MAX_ROWS` are pruned.
    """

    timestamp = models.DateTimeField(db_index=True)
    level = models.CharField(max_length=10)
    service = models.CharField(max_length=100)
    message = models.TextField()
    user_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [
            models.Index(fields=["level", "timestamp"], name="logrecord_level_ts_idx"),
            models.Index(
                fields=["service", "timestamp"], name="logrecord_service_ts_idx"
            ),
            models.Index(fields=["request_id"], name="logrecord_request_idx"),
            models.Index(fields=["user_id", "timestamp"], name="logrecord_user_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.level} {self.service}"
