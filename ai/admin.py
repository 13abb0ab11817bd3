"""Django admin for staff: providers (keys never shown), the model catalogue, chats,
agents and MCP servers (auth headers stored encrypted, never shown)."""

from django import forms
from django.contrib import admin

from ai.models import (
    Agent,
    AIModel,
    AIProvider,
    ContentAsset,
    ContentJob,
    Conversation,
    McpServer,
    Message,
    Workflow,
)
from ai.selectors import catalogue_invalidate
from ai.services.agents import agent_save, mcp_server_save


class AIProviderForm(forms.ModelForm):
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the stored key.",
    )

    class Meta:
        model = AIProvider
        fields = ["name", "kind", "base_url", "api_key", "enabled"]

    def clean_api_key(self):
        value = self.cleaned_data.get("api_key", "")
        if not value and self.instance.pk:
            return self.instance.api_key
        return value


@admin.register(AIProvider)
class AIProviderAdmin(admin.ModelAdmin):
    form = AIProviderForm
    list_display = ["name", "kind", "base_url", "has_key", "enabled", "updated_at"]
    list_filter = ["kind", "enabled"]

    @admin.display(boolean=True, description="key set")
    def has_key(self, obj: AIProvider) -> bool:
        return bool(obj.api_key)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalogue_invalidate()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalogue_invalidate()


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    list_display = [
        "model_id",
        "display_name",
        "provider",
        "modality",
        "input_price",
        "output_price",
        "currency",
        "min_plan",
        "enabled",
    ]
    list_filter = ["provider", "modality", "enabled", "min_plan"]
    list_editable = ["enabled"]
    search_fields = ["model_id", "display_name"]
    autocomplete_fields = ["fallback"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalogue_invalidate()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalogue_invalidate()

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        catalogue_invalidate()

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if request.method == "POST":  # list_editable saves
            catalogue_invalidate()
        return response


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = [
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "reasoning",
        "model",
        "status",
        "completion_tokens",
        "created_at",
    ]
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "user", "model", "message_count", "updated_at"]
    search_fields = ["title", "user__email"]
    raw_id_fields = ["user"]
    inlines = [MessageInline]


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = [
            "slug",
            "name",
            "description",
            "language",
            "owner",
            "system_prompt",
            "model",
            "temperature",
            "tools",
            "min_plan",
            "enabled",
            "sort_order",
        ]

    def clean(self):
        data = super().clean()
        owner = data.get("owner")
        scope = owner.pk if owner else 0
        clash = Agent.objects.filter(owner_scope=scope, slug=data.get("slug"))
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            self.add_error("slug", "This owner already has an agent with this slug.")
        tools = data.get("tools")
        if tools is not None and (
            not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)
        ):
            self.add_error("tools", 'A JSON list of tool names, e.g. ["text_count"].')
        return data


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = ["slug", "name", "language", "owner", "min_plan", "enabled"]
    list_filter = ["language", "min_plan", "enabled"]
    search_fields = ["slug", "name", "owner__email"]
    raw_id_fields = ["owner"]

    def save_model(self, request, obj, form, change):
        agent_save(agent=obj)


class McpServerForm(forms.ModelForm):
    auth_header = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Header value, e.g. 'Bearer …'. Stored encrypted; leave empty to "
        "keep the stored one.",
    )
    clear_auth_header = forms.BooleanField(required=False)

    class Meta:
        model = McpServer
        fields = [
            "slug",
            "name",
            "url",
            "owner",
            "auth_header_name",
            "auth_header",
            "clear_auth_header",
            "plans",
            "enabled",
        ]

    def clean(self):
        data = super().clean()
        owner = data.get("owner")
        scope = owner.pk if owner else 0
        clash = McpServer.objects.filter(owner_scope=scope, slug=data.get("slug"))
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            self.add_error("slug", "This owner already has a server with this slug.")
        return data


@admin.register(McpServer)
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
    list_display = ["slug", "name", "url", "owner", "has_auth", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["slug", "name", "url", "owner__email"]
    raw_id_fields = ["owner"]

    @admin.display(boolean=True, description="auth set")
    def has_auth(self, obj: McpServer) -> bool:
        return bool(obj.auth_header_encrypted)

    def save_model(self, request, obj, form, change):
        header = form.cleaned_data.get("auth_header") or None
        if form.cleaned_data.get("clear_auth_header"):
            header = ""
        mcp_server_save(server=obj, auth_header=header)


class ContentAssetInline(admin.TabularInline):
    model = ContentAsset
    extra = 0
    fields = ["kind", "index", "file", "content_type", "size_bytes", "created_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(ContentJob)
class ContentJobAdmin(admin.ModelAdmin):
    """Studio jobs, read-only for staff (users cancel and delete their own)."""

    list_display = [
        "id",
        "type",
        "status",
        "progress",
        "user",
        "model",
        "cost",
        "currency",
        "error_code",
        "created_at",
    ]
    list_filter = ["status", "type", "model"]
    search_fields = ["prompt", "user__email", "request_id"]
    raw_id_fields = ["user"]
    inlines = [ContentAssetInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    """Workflows; rows without an owner are the public templates users copy."""

    list_display = ("name", "owner", "slug", "updated_at")
    list_filter = (("owner", admin.EmptyFieldListFilter),)
    search_fields = ("name", "slug", "owner__email")
    raw_id_fields = ("owner",)
