"""Django admin for staff: browse, filter and search events; retry failed ones."""

from django.contrib import admin, messages

from webhooks_app.models import WebhookEvent
from webhooks_app.services import webhook_events_requeue


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "processing_ms",
        "processed_at",
    )
    list_filter = ("provider", "status", "event_type", "received_at")
    search_fields = ("event_id", "event_type", "body_sha256", "last_error")
    date_hierarchy = "received_at"
    ordering = ("-received_at", "-id")
    list_per_page = 50
    show_full_result_count = False
    readonly_fields = [field.name for field in WebhookEvent._meta.fields]
    actions = ["retry_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # events are evidence: view and retry only

    @admin.action(
        description="Retry selected events (failed or waiting)",
        permissions=["view"],
    )
    def retry_selected(self, request, queryset):
        count = webhook_events_requeue(
            pks=queryset.values_list("pk", flat=True), actor=request.user
        )
        skipped = queryset.count() - count
        self.message_user(
            request,
            f"Re-queued {count} event(s); {skipped} skipped (already processed or "
            "ignored, or being processed).",
            messages.SUCCESS if count else messages.WARNING,
        )
