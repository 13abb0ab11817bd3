"""Django admin for notifications."""

from django.contrib import admin

from notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("kind", "title", "user", "created_at", "read_at")
    list_filter = ("kind",)
    search_fields = ("title", "user__email")
    raw_id_fields = ("user",)
