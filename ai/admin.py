"""Django admin for staff: providers (keys never shown), the model catalogue, chats."""

from django import forms
from django.contrib import admin

from ai.models import AIModel, AIProvider, Conversation, Message
from ai.selectors import catalogue_invalidate


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
    fields = ["role", "content", "model", "status", "completion_tokens", "created_at"]
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "user", "model", "message_count", "updated_at"]
    search_fields = ["title", "user__email"]
    raw_id_fields = ["user"]
    inlines = [MessageInline]
