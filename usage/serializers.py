"""The wire format of usage's plain types, for the API of any app (`QuotaState`)."""

from rest_framework import serializers


class QuotaStateSerializer(serializers.Serializer):
    """Today's quota (UTC day); a null limit or remainder means unlimited."""

    limit_requests = serializers.IntegerField(allow_null=True)
    remaining_requests = serializers.IntegerField(allow_null=True)
    requests_used = serializers.IntegerField()
    limit_tokens = serializers.IntegerField(allow_null=True)
    remaining_tokens = serializers.IntegerField(allow_null=True)
    tokens_used = serializers.IntegerField()
    tokens_reserved = serializers.IntegerField()
    reset_at = serializers.DateTimeField(help_text="Next 00:00 UTC, ISO 8601.")
