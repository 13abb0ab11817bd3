"""Django admin for staff announcements (sent through the announcement service) and
the queryable log records (read-only)."""

from django.contrib import admin, messages

from dashboard.models import Announcement, LogRecord
from dashboard.services import (
    AnnouncementRequest,
    announcement_resend,
    announcement_send,
)
from flowmatik.errors import ApplicationError


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "title",
        "audience",
        "plan_slug",
        "target_user",
        "level",
        "recipients",
        "email",
        "sent_by",
    )
    list_filter = ("audience", "level", "email", "created_at")
    search_fields = ("title", "body", "target_user__email", "sent_by__email")
    raw_id_fields = ("target_user",)
    list_select_related = ("target_user", "sent_by")
    fields = ("audience", "target_user", "plan_slug", "title", "body", "level", "email")
    actions = ["resend"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*self.fields, "recipients", "sent_by", "emailed_at", "created_at")

    def save_model(self, request, obj: Announcement, form, change) -> None:
        if change:
            return
        try:
            sent = announcement_send(
                actor=request.user,
                request=AnnouncementRequest(
                    audience=obj.audience,
                    title=obj.title,
                    body=obj.body,
                    level=obj.level,
                    email=obj.email,
                    user_id=obj.target_user_id,
                    plan=obj.plan_slug or None,
                ),
            )
        except ApplicationError as exc:
            self.message_user(
                request, f"Not sent: {exc.details or exc.message}", messages.ERROR
            )
            return
        obj.pk = sent.pk

    @admin.action(description="Send selected announcements again")
    def resend(self, request, queryset):
        for announcement in queryset:
            announcement_resend(actor=request.user, announcement=announcement)
        self.message_user(request, f"{queryset.count()} announcement(s) sent again.")


@admin.register(LogRecord)
class LogRecordAdmin(admin.ModelAdmin):
    list_display = ("timestamp", "level", "service", "message", "user_id", "request_id")
    list_filter = ("level", "service")
    search_fields = ("message", "request_id", "user_id")
    date_hierarchy = "timestamp"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
