"""Django admin for notifications: staff add them through the notification service
(stored and pushed live), browse them, and resend selected ones."""

from django.contrib import admin, messages

from notifications.models import Notification
from notifications.services import notification_send


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("kind", "title", "user", "created_at", "read_at")
    list_filter = ("kind", ("user", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("title", "body", "user__email")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    fields = ("user", "kind", "title", "body", "data")
    actions = ["resend"]

    def get_readonly_fields(self, request, obj=None):
        # A sent notification is a record of what users saw: view only.
        return self.fields if obj is not None else ()

    def save_model(self, request, obj: Notification, form, change) -> None:
        if change:
            return
        sent = notification_send(
            user=obj.user,
            kind=obj.kind,
            title=obj.title,
            body=obj.body,
            data=obj.data or {},
        )
        obj.pk = sent.pk
        obj.created_at = sent.created_at

    @admin.action(description="Send selected notifications again (live push)")
    def resend(self, request, queryset):
        count = 0
        for notification in queryset.select_related("user"):
            notification_send(
                user=notification.user,
                kind=notification.kind,
                title=notification.title,
                body=notification.body,
                data=notification.data,
            )
            count += 1
        self.message_user(
            request, f"{count} notification(s) sent again.", messages.SUCCESS
        )
