"""Tables of the usage app: usage records, daily/monthly rollups, quota state."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class UsageStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Partial (stream cut)"
    ERROR = "error", "Error"


class UsageRecord(models.Model):
    """One AI call's usage event, stored once (unique per reservation id)."""

    event_key = models.CharField(
        max_length=64, unique=True, help_text="Reservation id: stores each call once."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_records"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    endpoint = models.CharField(max_length=64)
    model = models.CharField(max_length=128)
    provider = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    currency = models.CharField(max_length=3, default="USD")
    latency_ms = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    error_code = models.CharField(max_length=64, blank=True)
    estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "created_at"], name="usage_rec_user_created_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.model} {self.status} {self.total_tokens}"


class _Totals(models.Model):
    """Counters shared by the daily and monthly rollups."""

    requests = models.PositiveIntegerField(default=0)  # calls that counted
    failed_requests = models.PositiveIntegerField(default=0)  # errors: not counted
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    currency = models.CharField(max_length=3, default="USD")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class UsageDaily(_Totals):
    """Per user, UTC day, endpoint and model: what analytics read (never raw rows).

    Per-user and per-user+model daily totals are sums over a handful of these rows.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_days"
    )
    day = models.DateField()
    endpoint = models.CharField(max_length=64)
    model = models.CharField(max_length=128)

    class Meta:
        ordering = ["-day", "model", "endpoint"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day", "endpoint", "model", "currency"],
                name="usage_daily_unique",
            )
        ]
        indexes = [models.Index(fields=["day"], name="usage_daily_day_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.model} {self.endpoint}"


class UsageMonthly(_Totals):
    """Monthly summary per user and model, kept for invoices and analytics."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_months"
    )
    month = models.DateField(help_text="First day of the month (UTC).")
    model = models.CharField(max_length=128)

    class Meta:
        ordering = ["-month", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "month", "model", "currency"],
                name="usage_monthly_unique",
            ),
            models.CheckConstraint(
                condition=Q(month__day=1), name="usage_monthly_first_of_month"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.month:%Y-%m} {self.model}"


class QuotaCounter(models.Model):
    """Today's enforcement counters when Redis is not used (the database fallback).

    One row per user and UTC day (unique), changed only by conditional UPDATEs.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    requests = models.PositiveIntegerField(default=0)
    tokens_used = models.PositiveBigIntegerField(default=0)
    tokens_reserved = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], name="quota_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day}: {self.requests} req, {self.tokens_used} tok"


class QuotaReservation(models.Model):
    """A database-fallback reservation; settled once, swept when its call died."""

    id = models.CharField(primary_key=True, max_length=64)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    tokens = models.PositiveBigIntegerField()
    expires_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The sweeper's "open and expired" scan; a plain composite index because
            # MariaDB ignores partial-index conditions.
            models.Index(
                fields=["settled_at", "expires_at"], name="quota_res_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.tokens} tokens)"


class QuotaOverride(models.Model):
    """Staff's per-user limits: a raised (or lowered) limit and/or a temporary boost.

    A `None` limit keeps the plan's; `unlimited` lifts both; the boost adds to the
    (plan or overridden) limit until `boost_until`.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="quota_override",
    )
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    unlimited = models.BooleanField(default=False)
    boost_requests = models.PositiveIntegerField(default=0)
    boost_tokens = models.PositiveBigIntegerField(default=0)
    boost_until = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Quota override for {self.user_id}"


class AlertLevel(models.IntegerChoices):
    WARNING = 80, "80%"
    EXCEEDED = 100, "100%"


class QuotaAlert(models.Model):
    """One alert per user, UTC day and level: the once-per-day guarantee."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    level = models.PositiveSmallIntegerField(choices=AlertLevel.choices)
    limit = models.CharField(max_length=16)  # "requests" | "tokens"
    limit_value = models.PositiveBigIntegerField(default=0)
    used = models.PositiveBigIntegerField(default=0)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day", "level"], name="quota_alert_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.level}%"
