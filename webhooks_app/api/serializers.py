"""Input and output serializers of the webhooks API."""

from django.conf import settings
from rest_framework import serializers

from webhooks_app.services import REJECTION_REASONS, REQUEUEABLE


class WebhookAcceptedSerializer(serializers.Serializer):
    received = serializers.BooleanField(help_text="Always true on 200.")
    duplicate = serializers.BooleanField(
        help_text="True when this event was already stored (nothing changed)."
    )
    event_id = serializers.CharField(
        help_text="The provider's event id; for LemonSqueezy the body's sha256."
    )


class StatusCountsSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    processing = serializers.IntegerField()
    processed = serializers.IntegerField()
    failed = serializers.IntegerField()
    ignored = serializers.IntegerField()


class ProviderStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = StatusCountsSerializer()
    by_type = serializers.DictField(
        child=StatusCountsSerializer(), help_text="Counts per event type and status."
    )
    last_received_at = serializers.DateTimeField(allow_null=True)


class ProcessingTimeSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Events the percentiles cover.")
    p50 = serializers.IntegerField(allow_null=True)
    p90 = serializers.IntegerField(allow_null=True)
    p95 = serializers.IntegerField(allow_null=True)
    p99 = serializers.IntegerField(allow_null=True)
    max = serializers.IntegerField(allow_null=True)


class RejectionCountsSerializer(serializers.Serializer):
    def get_fields(self):
        return {reason: serializers.IntegerField() for reason in REJECTION_REASONS}


class WebhookStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = StatusCountsSerializer()
    providers = serializers.DictField(child=ProviderStatsSerializer())
    processing_ms = ProcessingTimeSerializer(
        help_text="Milliseconds per processed event (last 10,000), nearest rank."
    )
    failed_last_24h = serializers.IntegerField(
        help_text="Events that landed as failed in the last 24 hours."
    )
    rejected = serializers.DictField(
        child=RejectionCountsSerializer(),
        help_text="Refused deliveries per provider and reason (counters only).",
    )
    generated_at = serializers.DateTimeField()


class WebhookRetryInputSerializer(serializers.Serializer):
    event_ids = serializers.ListField(
        child=serializers.CharField(max_length=255),
        required=False,
        min_length=1,
        help_text="Provider event ids to re-queue (at most WEBHOOK_RETRY_MAX_IDS).",
    )
    status = serializers.ChoiceField(
        choices=[status.value for status in REQUEUEABLE],
        required=False,
        help_text="Re-queue every event in this status.",
    )

    def validate_event_ids(self, value: list[str]) -> list[str]:
        limit = settings.WEBHOOK_RETRY_MAX_IDS  # read per request
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit} elements."
            )
        return value

    def validate(self, attrs):
        if ("event_ids" in attrs) == ("status" in attrs):
            raise serializers.ValidationError("Give either `event_ids` or `status`.")
        return attrs


class WebhookRetryOutputSerializer(serializers.Serializer):
    requeued = serializers.IntegerField(help_text="How many events were re-queued.")
