"""Tables of the webhooks_app app: every accepted payment-provider delivery, once."""

from django.db import models


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    LEMONSQUEEZY = "lemonsqueezy", "LemonSqueezy"


class EventStatus(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, waiting for (another) attempt
    PROCESSING = "processing", "Processing"  # claimed by a worker
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"  # retries exhausted: the dead-letter state
    IGNORED = "ignored", "Ignored"  # an event type we do not handle


class WebhookEvent(models.Model):
    """One verified delivery. `event_id` is the provider's id (Stripe `evt_…`) or,
    for LemonSqueezy, which sends none, the sha256 of the raw body."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payload = models.TextField(help_text="The raw request body, exactly as signed.")
    headers = models.JSONField(default=dict, blank=True)
    body_sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=EventStatus.choices, default=EventStatus.RECEIVED
    )
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The task message that claimed it (see webhook_event_process).
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="webhook_event_provider_id_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "provider"], name="webhook_status_provider"),
            models.Index(
                fields=["provider", "received_at"], name="webhook_prov_received"
            ),
            models.Index(fields=["processed_at"], name="webhook_processed_at"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_type}:{self.event_id}"
