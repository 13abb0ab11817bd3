"""Input and output serializers of the ai API (also what the OpenAPI schema shows)."""

from rest_framework import serializers

from ai import bounds
from ai.models import Conversation, Message
from flowmatik.errors import InvalidInput


def _bounded(check, value, **kwargs):
    """Run an `ai.bounds` check (the one definition of the limits) as a validator."""
    try:
        return check(value, **kwargs)
    except InvalidInput as exc:
        raise serializers.ValidationError(exc.message) from None


class BoundedChatFields:
    """`validate_<field>` through `ai.bounds` for the fields both chat inputs share.

    The serializers check types; the limits (`AI_MAX_*`, read per request) and the
    Unicode rule are `ai.bounds`', the same the WebSocket and the engine apply.
    """

    def validate_temperature(self, value):
        return _bounded(bounds.temperature_check, value)

    def validate_max_tokens(self, value):
        return _bounded(bounds.max_tokens_check, value)

    def validate_max_completion_tokens(self, value):
        return _bounded(bounds.max_tokens_check, value)


def _max_tokens_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="1 to AI_MAX_OUTPUT_TOKENS.",
    )


class ReasoningInputSerializer(serializers.Serializer):
    depth = serializers.IntegerField(
        min_value=1,
        max_value=3,
        help_text="Critique/revise rounds after plan and draft; the plan's "
        "maximum is AI_REASONING_MAX_DEPTH (403 plan_feature_required above it).",
    )


class ReasoningStepSerializer(serializers.Serializer):
    step = serializers.ChoiceField(["plan", "draft", "critique", "revise"])
    index = serializers.IntegerField()
    section = serializers.IntegerField(allow_null=True)
    content = serializers.CharField()
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    currency = serializers.CharField()


class ChatInputSerializer(BoundedChatFields, serializers.Serializer):
    message = serializers.CharField(
        trim_whitespace=True, help_text="1 to AI_MAX_MESSAGE_CHARS characters."
    )
    conversation_id = serializers.IntegerField(required=False, allow_null=True)
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    agent = serializers.CharField(max_length=64, required=False, allow_blank=True)
    temperature = serializers.FloatField(
        required=False, allow_null=True, help_text="0 to 2."
    )
    max_tokens = _max_tokens_field()
    stream = serializers.BooleanField(required=False, default=False)
    reasoning = ReasoningInputSerializer(
        required=False,
        help_text="Plan → draft → critique → revise before answering (each step "
        "metered; steps come back as `reasoning_steps` / `reasoning_step` events).",
    )

    def validate_message(self, value):
        return _bounded(bounds.message_text_check, value)


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
    reasoning_steps = ReasoningStepSerializer(
        many=True, required=False, help_text="With `reasoning`: each step run."
    )
    finish_reason = serializers.CharField()
    request_id = serializers.CharField()
    reasoning = serializers.CharField(
        help_text="What a reasoning model thought (empty for other models)."
    )


class ChatStreamEventSerializer(serializers.Serializer):
    """One Server-Sent Event (`event: <type>`, `data: <this JSON>`)."""

    type = serializers.ChoiceField(
        choices=[
            "start",
            "delta",
            "reasoning",
            "tool_call",
            "tool_result",
            "usage",
            "done",
            "error",
        ]
    )
    content = serializers.CharField(
        required=False, help_text="delta, reasoning, tool_result"
    )
    id = serializers.CharField(required=False, help_text="tool_call, tool_result")
    name = serializers.CharField(
        required=False, help_text="tool_call, tool_result: the tool"
    )
    arguments = serializers.CharField(
        required=False, help_text="tool_call: the model's JSON arguments"
    )
    is_error = serializers.BooleanField(required=False, help_text="tool_result")
    step = serializers.IntegerField(
        required=False, help_text="tool_call, tool_result: the agent loop's step"
    )
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
            "reasoning",
            "tool_calls",
            "tool_call_id",
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
    media_sizes = serializers.ListField(
        child=serializers.CharField(),
        help_text='Image/video models: the "WxH" sizes they take (first = default).',
    )
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


class OpenAIFunctionCallSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    arguments = serializers.CharField(allow_blank=True, trim_whitespace=False)


class OpenAIToolCallSerializer(serializers.Serializer):
    """An assistant message's `tool_calls[]` item, as OpenAI defines it."""

    id = serializers.CharField(max_length=256)
    type = serializers.ChoiceField(choices=["function"])
    function = OpenAIFunctionCallSerializer()


class OpenAIMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant", "tool"])
    content = serializers.JSONField(required=False, allow_null=True)
    name = serializers.CharField(required=False)
    tool_calls = OpenAIToolCallSerializer(many=True, required=False)
    tool_call_id = serializers.CharField(required=False)


class OpenAIStreamOptionsSerializer(serializers.Serializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class OpenAIFunctionSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_-]{1,64}$")
    description = serializers.CharField(required=False, allow_blank=True)
    parameters = serializers.DictField(
        required=False, help_text="A JSON Schema object."
    )
    strict = serializers.BooleanField(required=False, allow_null=True)


class OpenAIToolSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["function"])
    function = OpenAIFunctionSerializer()


class OpenAIToolChoiceFunctionSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)


class OpenAINamedToolChoiceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["function"])
    function = OpenAIToolChoiceFunctionSerializer()


TOOL_CHOICE_MODES = ("none", "auto", "required")


class OpenAIToolChoiceField(serializers.JSONField):
    """`none`, `auto`, `required` or `{"type": "function", "function": {"name"}}`."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            if data not in TOOL_CHOICE_MODES:
                raise serializers.ValidationError(
                    f"Must be one of {', '.join(TOOL_CHOICE_MODES)} or a named tool."
                )
            return data
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a string or an object.")
        named = OpenAINamedToolChoiceSerializer(data=data)
        if not named.is_valid():
            raise serializers.ValidationError(named.errors)
        return {"type": "function", "function": dict(named.validated_data["function"])}


class OpenAIChatInputSerializer(BoundedChatFields, serializers.Serializer):
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    messages = OpenAIMessageSerializer(
        many=True,
        help_text="1 to AI_MAX_MESSAGES messages of at most AI_MAX_MESSAGE_CHARS "
        "characters each.",
    )
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = OpenAIStreamOptionsSerializer(required=False)
    temperature = serializers.FloatField(
        required=False, allow_null=True, help_text="0 to 2."
    )
    max_tokens = _max_tokens_field()
    max_completion_tokens = _max_tokens_field()
    tools = OpenAIToolSerializer(
        many=True, required=False, help_text="At most AI_MAX_TOOLS."
    )
    tool_choice = OpenAIToolChoiceField(required=False, allow_null=True)

    def to_internal_value(self, data):
        # Count before validating every item: a huge list is refused cheaply.
        if isinstance(data, dict):
            for name, check in (
                ("messages", bounds.messages_count_check),
                ("tools", bounds.tools_count_check),
            ):
                if isinstance(data.get(name), list):
                    try:
                        check(data[name], field=name)
                    except InvalidInput as exc:
                        raise serializers.ValidationError(
                            {name: [exc.message]}
                        ) from None
        return super().to_internal_value(data)

    def validate_messages(self, value):
        return _bounded(bounds.messages_check, value)

    def validate_tools(self, value):
        return _bounded(bounds.tools_check, value)

    def validate(self, attrs):
        choice = attrs.get("tool_choice")
        if isinstance(choice, dict) or choice == "required":
            names = {t["function"]["name"] for t in attrs.get("tools") or []}
            if isinstance(choice, dict) and choice["function"]["name"] not in names:
                raise serializers.ValidationError(
                    {"tool_choice": ["Names a function that is not in tools."]}
                )
            if not names:
                raise serializers.ValidationError({"tool_choice": ["Needs tools."]})
        return attrs


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
