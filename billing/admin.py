"""Django admin for plans."""

from django.contrib import admin

from billing.models import Plan


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "price",
        "requests_per_day",
        "tokens_per_day",
        "is_active",
    )
    list_editable = ("is_active",)
    ordering = ("sort_order",)
