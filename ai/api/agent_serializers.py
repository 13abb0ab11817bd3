"""Input and output serializers of agents, tools and integrations (MCP servers)."""

from rest_framework import serializers

MAX_PROMPT_CHARS = 20_000
MAX_TOOLS_PER_AGENT = 32


class ToolOutputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The function name the model calls.")
    description = serializers.CharField()
    parameters = serializers.DictField(help_text="JSON Schema of the arguments.")
    source = serializers.ChoiceField(choices=["builtin", "mcp"])
    server = serializers.CharField(
        allow_null=True, help_text="The integration's slug for MCP tools."
    )


class AgentOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    language = serializers.CharField()
    model = serializers.CharField(help_text="Default model; empty = plan default.")
    temperature = serializers.FloatField(allow_null=True)
    min_plan = serializers.CharField()
    reasoning_depth = serializers.IntegerField(
        help_text="ReasoningEngine rounds the agent answers with (0: none)."
    )
    owned = serializers.BooleanField(help_text="True for the caller's own agents.")
    system_prompt = serializers.CharField(
        allow_null=True, help_text="Shown for the caller's own agents only."
    )
    tools = ToolOutputSerializer(many=True, help_text="What the agent can call.")


class AgentInputSerializer(serializers.Serializer):
    """POST creates (slug, name and system_prompt required); PATCH edits (partial)."""

    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(
        max_length=255, required=False, allow_blank=True
    )
    language = serializers.CharField(max_length=8, required=False)
    system_prompt = serializers.CharField(max_length=MAX_PROMPT_CHARS)
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    temperature = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=2
    )
    reasoning_depth = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=3,
        help_text="Answer with the ReasoningEngine (1..3 rounds) unless a request "
        "says otherwise; capped by the caller's plan.",
    )
    tools = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=MAX_TOOLS_PER_AGENT,
        help_text='Built-in tool names, "mcp:<integration>" or '
        '"mcp:<integration>/<tool>".',
    )


class AgentPatchSerializer(AgentInputSerializer):
    slug = None  # the slug names the agent; it is not edited

    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class IntegrationOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    url = serializers.URLField()
    auth_header_name = serializers.CharField()
    has_auth = serializers.BooleanField(help_text="The header value is never shown.")
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class IntegrationInputSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=40)
    name = serializers.CharField(max_length=120)
    url = serializers.URLField(max_length=500)
    auth_header_name = serializers.RegexField(
        r"^[A-Za-z0-9-]{1,64}$", required=False, default="Authorization"
    )
    auth_header = serializers.CharField(
        max_length=4096,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="e.g. 'Bearer …'; stored encrypted, never returned.",
    )
