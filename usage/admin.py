"""Django admin for staff: usage records, rollups, alerts and per-user overrides."""

from django.contrib import admin

from usage.models import (
    QuotaAlert,
    QuotaOverride,
    UsageDaily,
    UsageMonthly,
    UsageRecord,
)
from usage.services import quota_override_delete, quota_override_set


@admin.register(QuotaOverride)
class QuotaOverrideAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "requests_per_day",
        "tokens_per_day",
        "unlimited",
        "boost_requests",
        "boost_tokens",
        "boost_until",
        "updated_at",
    )
    search_fields = ("user__email", "reason")
    raw_id_fields = ("user",)
    readonly_fields = ("updated_by", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        # Through the service, so the hot-path cache drops the old limits at once.
        saved = quota_override_set(
            user_id=obj.user_id,
            requests_per_day=obj.requests_per_day,
            tokens_per_day=obj.tokens_per_day,
            unlimited=obj.unlimited,
            boost_requests=obj.boost_requests,
            boost_tokens=obj.boost_tokens,
            boost_until=obj.boost_until,
            reason=obj.reason,
            updated_by=request.user,
        )
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        quota_override_delete(user_id=obj.user_id)

    def delete_queryset(self, request, queryset):
        for user_id in queryset.values_list("user_id", flat=True):
            quota_override_delete(user_id=user_id)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(_ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "endpoint",
        "model",
        "provider",
        "status",
        "total_tokens",
        "cost",
        "currency",
        "latency_ms",
    )
    list_filter = ("status", "endpoint", "provider")
    search_fields = ("user__email", "request_id", "model", "event_key")
    date_hierarchy = "created_at"
    list_select_related = ("user",)


@admin.register(UsageDaily)
class UsageDailyAdmin(_ReadOnlyAdmin):
    list_display = (
        "day",
        "user",
        "endpoint",
        "model",
        "requests",
        "failed_requests",
        "total_tokens",
        "cost",
        "currency",
    )
    list_filter = ("endpoint",)
    search_fields = ("user__email", "model")
    date_hierarchy = "day"
    list_select_related = ("user",)


@admin.register(UsageMonthly)
class UsageMonthlyAdmin(_ReadOnlyAdmin):
    list_display = ("month", "user", "model", "requests", "total_tokens", "cost")
    search_fields = ("user__email", "model")
    list_select_related = ("user",)


@admin.register(QuotaAlert)
class QuotaAlertAdmin(_ReadOnlyAdmin):
    list_display = (
        "day",
        "user",
        "level",
        "limit",
        "used",
        "limit_value",
        "emailed_at",
    )
    list_filter = ("level", "limit")
    search_fields = ("user__email",)
    list_select_related = ("user",)
