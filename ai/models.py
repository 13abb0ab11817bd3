"""Tables of the ai app: providers, the model catalogue, chats, content jobs,
agents and MCP servers."""

from decimal import Decimal

from django.conf import settings
from django.db import models


class ProviderKind(models.TextChoices):
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
    SILICONFLOW = "siliconflow", "SiliconFlow"
    DOUBAO = "doubao", "Doubao (Volcengine Ark)"
    OPENAI = "openai", "OpenAI"
    DEMO = "demo", "Local demo model"


class AIProvider(models.Model):
    """A provider configured by staff (e.g. Ollama or vLLM): base URL and key.

    Providers named in the environment (SiliconFlow, Doubao, OpenAI, the demo and
    `AI_EXTRA_PROVIDERS`) need no row; a row with the same name overrides them.
    """

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(
        max_length=32,
        choices=ProviderKind.choices,
        default=ProviderKind.OPENAI_COMPATIBLE,
    )
    base_url = models.URLField(max_length=500)
    api_key = models.CharField(
        max_length=500, blank=True, help_text="Stored as entered; never displayed."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Modality(models.TextChoices):
    CHAT = "chat", "Chat"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"


class PriceUnit(models.TextChoices):
    TOKENS = "1M_tokens", "per 1M tokens (input / output)"
    IMAGE = "image", "per image"
    SECOND = "second", "per second of audio or video"
    UTF8_BYTES = "1M_utf8_bytes", "per 1M UTF-8 bytes of input"
    VIDEO = "video", "per video"


class AIModel(models.Model):
    """One model users may call: where it lives, what it can do, what it costs."""

    model_id = models.CharField(max_length=150, unique=True)
    provider = models.SlugField(
        max_length=64, help_text="Provider name: siliconflow, doubao, openai, demo, …"
    )
    upstream_model = models.CharField(
        max_length=150,
        blank=True,
        help_text="Model name sent to the provider when it differs (Ark endpoint ids).",
    )
    display_name = models.CharField(max_length=150)
    description = models.CharField(max_length=255, blank=True)
    modality = models.CharField(
        max_length=16, choices=Modality.choices, default=Modality.CHAT
    )
    context_window = models.PositiveIntegerField(default=32_768)
    max_output_tokens = models.PositiveIntegerField(default=4_096)
    supports_streaming_usage = models.BooleanField(default=True)
    supports_tools = models.BooleanField(default=False)
    supports_reasoning = models.BooleanField(default=False)
    price_unit = models.CharField(
        max_length=16, choices=PriceUnit.choices, default=PriceUnit.TOKENS
    )
    input_price = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal("0"),
        help_text="Per 1M input tokens (or per unit for non-token models).",
    )
    output_price = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal("0"),
        help_text="Per 1M output tokens.",
    )
    currency = models.CharField(max_length=3, default="USD")
    min_plan = models.SlugField(
        max_length=32, default="free", help_text="Lowest plan (slug) allowed."
    )
    media_sizes = models.JSONField(
        default=list,
        blank=True,
        help_text='Image/video models: the allowed "WxH" sizes, first = default.',
    )
    fallback = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fallback_for",
        help_text="Tried once when this model's provider fails before any output.",
    )
    enabled = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "model_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(input_price__gte=0, output_price__gte=0),
                name="ai_model_prices_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class Conversation(models.Model):
    """A chat thread of one user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=150, blank=True)
    agent = models.CharField(max_length=64, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    summary = models.TextField(
        blank=True, help_text="Summary of the turns up to summary_upto_id."
    )
    summary_upto_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "-updated_at"], name="ai_conv_user_updated_idx"
            )
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class MessageRole(models.TextChoices):
    SYSTEM = "system", "System"
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool result"


class MessageStatus(models.TextChoices):
    COMPLETE = "complete", "Complete"
    PARTIAL = "partial", "Partial (stream cut)"
    ERROR = "error", "Error"


class Message(models.Model):
    """One turn of a conversation."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    model = models.CharField(max_length=150, blank=True)
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETE
    )
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    request_id = models.CharField(max_length=128, blank=True)
    # An assistant turn that asked for tools: [{"id", "type", "function": {...}}].
    tool_calls = models.JSONField(null=True, blank=True)
    # A `tool` turn: the id of the call it answers.
    tool_call_id = models.CharField(max_length=128, blank=True)
    # What a reasoning model thought before answering (never mixed into content).
    reasoning = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "id"], name="ai_msg_conv_id_idx")
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class JobType(models.TextChoices):
    BLOG_POST = "blog_post", "Blog post"
    SOCIAL_POST = "social_post", "Social post"
    EMAIL = "email", "E-mail"
    AD_COPY = "ad_copy", "Ad copy"
    PRODUCT_DESCRIPTION = "product_description", "Product description"
    VIDEO_SCRIPT = "video_script", "Video script"
    SEO_META = "seo_meta", "SEO meta"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio (speech)"
    VIDEO = "video", "Video"
    WORKFLOW = "workflow", "Workflow run"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


class ContentJob(models.Model):
    """One content-studio request, worked by Celery (`ai.job_run`).

    `lease_until` is the running worker's claim: a second delivery of the same task
    skips the job while the lease holds; the sweeper re-queues (or fails, past
    STUDIO_JOB_MAX_ATTEMPTS) a running job whose lease ran out. `claimed_by` is the
    id of the task message that claimed it: the broker delivers that same message
    again only when its run is gone (worker killed, late ack never sent), so that
    delivery may re-claim the job at once, lease or not.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="content_jobs"
    )
    type = models.CharField(max_length=32, choices=JobType.choices)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    prompt = models.TextField()
    options = models.JSONField(default=dict, blank=True)
    agent = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=8, blank=True)
    result_text = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    units = models.DecimalField(
        max_digits=14,
        decimal_places=3,
        default=Decimal("0"),
        help_text="Priced units of media jobs (images, videos, UTF-8 bytes).",
    )
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    provider_task_id = models.CharField(max_length=200, blank=True)
    reservation = models.JSONField(
        null=True,
        blank=True,
        help_text="An admitted usage reservation not yet settled.",
    )
    polls = models.PositiveIntegerField(default=0)
    reasoning_depth = models.PositiveSmallIntegerField(
        default=0,
        help_text="ReasoningEngine rounds (0: one plain generation); text jobs only.",
    )
    deadline_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user", "-created_at"], name="ai_job_user_created_idx"
            ),
            models.Index(
                fields=["status", "lease_until"], name="ai_job_status_lease_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="ai_job_progress_lte_100"
            ),
            models.CheckConstraint(
                condition=models.Q(cost__gte=0, units__gte=0),
                name="ai_job_cost_units_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} job {self.pk} ({self.status})"


class AssetKind(models.TextChoices):
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"


class ContentAsset(models.Model):
    """A file a job produced, copied into our storage (provider URLs expire)."""

    job = models.ForeignKey(ContentJob, on_delete=models.CASCADE, related_name="assets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="content_assets",
    )
    kind = models.CharField(max_length=8, choices=AssetKind.choices)
    index = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to="studio/%Y/%m/", max_length=300)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "kind", "index"], name="ai_asset_job_kind_index_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.index} of job {self.job_id}"


class Agent(models.Model):
    """An assistant persona as data: prompt, model, tools, plan; public or a user's.

    `owner_scope` is 0 for public (staff) agents and the owner's id otherwise, so one
    plain unique constraint keeps slugs unique per owner on every database (MariaDB
    ignores conditional unique constraints).
    """

    slug = models.SlugField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="agents",
        help_text="Empty for a public agent.",
    )
    owner_scope = models.PositiveBigIntegerField(default=0, editable=False)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=255, blank=True)
    language = models.CharField(max_length=8, default="en")
    system_prompt = models.TextField()
    model = models.CharField(
        max_length=150, blank=True, help_text="Default model id; empty = plan default."
    )
    temperature = models.FloatField(null=True, blank=True)
    tools = models.JSONField(
        default=list,
        blank=True,
        help_text='Allowed tools: built-in names, "mcp:<server>" (all its tools) '
        'or "mcp:<server>/<tool>".',
    )
    min_plan = models.SlugField(max_length=32, default="free")
    reasoning_depth = models.PositiveSmallIntegerField(
        default=0,
        help_text="ReasoningEngine rounds the agent answers with (0: none); capped "
        "by the caller's plan.",
    )
    enabled = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_scope", "slug"], name="ai_agent_slug_per_owner"
            ),
            models.CheckConstraint(
                # `owner__isnull=False` too: a NULL comparison would pass a CHECK.
                condition=models.Q(owner__isnull=True, owner_scope=0)
                | models.Q(owner__isnull=False, owner_scope=models.F("owner")),
                name="ai_agent_owner_scope",
            ),
            models.CheckConstraint(
                condition=models.Q(temperature__isnull=True)
                | models.Q(temperature__gte=0, temperature__lte=2),
                name="ai_agent_temperature_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class McpServer(models.Model):
    """An external MCP server (streamable HTTP) whose tools agents may call.

    Staff register public ones (owner empty, `plans` says who may use them); users
    whose plan has `integrations` add their own. The auth header value is stored
    encrypted (`ai.secrets`), never shown back.
    """

    slug = models.SlugField(max_length=40)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mcp_servers",
        help_text="Empty for a server staff offer to plans.",
    )
    owner_scope = models.PositiveBigIntegerField(default=0, editable=False)
    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    auth_header_name = models.CharField(max_length=64, default="Authorization")
    auth_header_encrypted = models.TextField(blank=True, editable=False)
    plans = models.JSONField(
        default=list,
        blank=True,
        help_text="Plan slugs that may use a public server; empty = plans with "
        "the integrations feature.",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner_scope", "slug"], name="ai_mcp_slug_per_owner"
            ),
            models.CheckConstraint(
                # `owner__isnull=False` too: a NULL comparison would pass a CHECK.
                condition=models.Q(owner__isnull=True, owner_scope=0)
                | models.Q(owner__isnull=False, owner_scope=models.F("owner")),
                name="ai_mcp_owner_scope",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Workflow(models.Model):
    """A saved pipeline of steps (Pro/Business feature `workflows`).

    `steps` is a list of `{"name", "prompt", "type"?, "agent"?}`: each step writes
    text with a studio text type's format and/or an agent's persona (neither: the
    default assistant); `prompt` is a template over `inputs.<name>` and
    `steps.<earlier step name>`. `inputs` lists the input names a run must give.
    A row without an owner is a public template users can copy.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="workflows",
    )
    slug = models.SlugField(max_length=64, blank=True)
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=500, blank=True)
    inputs = models.JSONField(default=list, blank=True)
    steps = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["owner", "name"], name="ai_workflow_owner_idx")]

    def __str__(self) -> str:
        return self.name
