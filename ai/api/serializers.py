"""Input and output serializers of the ai API (also what the OpenAPI schema shows)."""

from rest_framework import serializers

from ai.models import Conversation, Message


class ChatInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=100_000, trim_whitespace=True)
    conversation_id = serializers.IntegerField(required=False, allow_null=True)
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    agent = serializers.CharField(max_length=64, required=False, allow_blank=True)
    temperature = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=2
    )
    max_tokens = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=200_000
    )
    stream = serializers.BooleanField(required=False, default=False)


class ChatUsageSerializer(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    estimated = serializers.BooleanField()


class ChatOutputSerializer(serializers.Serializer):
    reply = serializers.CharField()
    conversation_id = serializers.IntegerField(allow_null=True)
    message_id = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    provider = serializers.CharField()
    usage = ChatUsageSerializer()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()
    finish_reason = serializers.CharField()
    request_id = serializers.CharField()


class ChatStreamEventSerializer(serializers.Serializer):
    """One Server-Sent Event (`event: <type>`, `data: <this JSON>`)."""

    type = serializers.ChoiceField(choices=["start", "delta", "usage", "done", "error"])
    content = serializers.CharField(required=False, help_text="delta")
    prompt_tokens = serializers.IntegerField(required=False, help_text="usage")
    completion_tokens = serializers.IntegerField(required=False, help_text="usage")
    total_tokens = serializers.IntegerField(required=False, help_text="usage")
    cost = serializers.CharField(required=False, help_text="usage")
    message_id = serializers.IntegerField(required=False, help_text="done")
    conversation_id = serializers.IntegerField(required=False, help_text="done")
    code = serializers.CharField(required=False, help_text="error")
    message = serializers.CharField(required=False, help_text="error")


class ConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "model",
            "agent",
            "message_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "model",
            "status",
            "prompt_tokens",
            "completion_tokens",
            "created_at",
        ]
        read_only_fields = fields


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class ConversationRenameSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)


class ModelOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="model_id")
    display_name = serializers.CharField()
    description = serializers.CharField()
    provider = serializers.CharField()
    modality = serializers.CharField()
    context_window = serializers.IntegerField()
    max_output_tokens = serializers.IntegerField()
    supports_streaming_usage = serializers.BooleanField()
    supports_tools = serializers.BooleanField()
    supports_reasoning = serializers.BooleanField()
    price_unit = serializers.CharField()
    input_price = serializers.DecimalField(max_digits=12, decimal_places=6)
    output_price = serializers.DecimalField(max_digits=12, decimal_places=6)
    currency = serializers.CharField()
    min_plan = serializers.CharField()
    is_default = serializers.BooleanField()


class ProviderStatusSerializer(serializers.Serializer):
    provider = serializers.CharField()
    configured = serializers.BooleanField()
    kind = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField())
    circuit = serializers.ChoiceField(choices=["closed", "open", "half_open"])
    consecutive_failures = serializers.IntegerField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    last_error_code = serializers.CharField(allow_blank=True)
    recent_calls = serializers.IntegerField()
    recent_latency_ms_p50 = serializers.IntegerField(allow_null=True)
    recent_error_rate = serializers.FloatField(allow_null=True)


class StatusOutputSerializer(serializers.Serializer):
    providers = ProviderStatusSerializer(many=True)
    default_model = serializers.CharField(allow_null=True)


# --- OpenAI-compatible API ------------------------------------------------------


class OpenAIMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant", "tool"])
    content = serializers.JSONField(required=False, allow_null=True)
    name = serializers.CharField(required=False)
    tool_calls = serializers.ListField(child=serializers.DictField(), required=False)
    tool_call_id = serializers.CharField(required=False)


class OpenAIStreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class OpenAIChatInputSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    messages = OpenAIMessageSerializer(many=True)
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = OpenAIStreamOptionsSerializer(required=False)
    temperature = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=2
    )
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = serializers.IntegerField(
        required=False, allow_null=True, min_value=1
    )
    tools = serializers.ListField(child=serializers.DictField(), required=False)
    tool_choice = serializers.JSONField(required=False)


class OpenAIChatOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="chat.completion")
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = serializers.ListField(child=serializers.DictField())
    usage = serializers.DictField()


class OpenAIModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="model")
    created = serializers.IntegerField()
    owned_by = serializers.CharField()


class OpenAIModelListSerializer(serializers.Serializer):
    object = serializers.CharField(default="list")
    data = OpenAIModelSerializer(many=True)


class OpenAIErrorDetailSerializer(serializers.Serializer):
    message = serializers.CharField()
    type = serializers.CharField()
    code = serializers.CharField()


class OpenAIErrorSerializer(serializers.Serializer):
    error = OpenAIErrorDetailSerializer()
