"""Django admin for plans (prices, limits, features, provider price ids),
subscriptions (read-only provider state) and payments (revenue records)."""

from django.contrib import admin, messages

from billing import services
from billing.errors import BillingError
from billing.models import Payment, PaymentEmail, Plan, Subscription
from flowmatik.csv_export import csv_response


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "price",
        "currency",
        "requests_per_day",
        "tokens_per_day",
        "stripe_price_id",
        "lemonsqueezy_variant_id",
        "is_active",
    )
    list_editable = ("is_active",)
    ordering = ("sort_order",)
    fieldsets = (
        (None, {"fields": ("slug", "name", "description", "is_active", "sort_order")}),
        ("Price", {"fields": ("price", "currency", "interval")}),
        (
            "Limits and features",
            {"fields": ("requests_per_day", "tokens_per_day", "features")},
        ),
        (
            "Providers",
            {
                "fields": ("stripe_price_id", "lemonsqueezy_variant_id"),
                "description": "Empty = taken from STRIPE_PRICE_<SLUG> / "
                "LEMONSQUEEZY_VARIANT_<SLUG> in the environment.",
            },
        ),
    )


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "plan",
        "provider",
        "status",
        "cancel_at_period_end",
        "current_period_end",
        "updated_at",
    )
    list_filter = ("provider", "status", "plan", "cancel_at_period_end")
    search_fields = ("user__email", "external_id", "external_customer_id")
    list_select_related = ("user", "plan")
    date_hierarchy = "created_at"
    actions = ["refresh_from_provider"]
    # Provider state is written only by the sync services (webhooks, API reads).
    readonly_fields = [f.name for f in Subscription._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Re-read from the provider")
    def refresh_from_provider(self, request, queryset):
        done = 0
        for sub in queryset:
            try:
                services.subscription_refresh(subscription_id=sub.pk)
                done += 1
            except BillingError as exc:
                self.message_user(
                    request, f"{sub.external_id}: {exc.message}", messages.ERROR
                )
        self.message_user(request, f"Re-read {done} subscription(s).")


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = (
        "paid_at",
        "user",
        "plan",
        "provider",
        "amount",
        "currency",
        "status",
        "external_id",
    )
    list_filter = ("provider", "status", "currency", "plan")
    search_fields = ("user__email", "external_id")
    list_select_related = ("user", "plan")
    date_hierarchy = "paid_at"
    readonly_fields = [f.name for f in Payment._meta.fields]
    actions = ["export_csv"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # revenue records come from the providers only

    @admin.action(description="Export selected payments as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        rows = queryset.select_related("user", "plan").order_by("paid_at", "pk")
        return csv_response(
            filename="payments.csv",
            header=[
                "id",
                "paid_at",
                "provider",
                "external_id",
                "user_email",
                "plan",
                "amount",
                "currency",
                "status",
            ],
            rows=(
                [
                    payment.pk,
                    payment.paid_at.isoformat(),
                    payment.provider,
                    payment.external_id,
                    payment.user.email if payment.user else "",
                    payment.plan.slug if payment.plan else "",
                    str(payment.amount),
                    payment.currency,
                    payment.status,
                ]
                for payment in rows.iterator()
            ),
        )


@admin.register(PaymentEmail)
class PaymentEmailAdmin(admin.ModelAdmin):
    """Payment-problem e-mails, one per provider attempt; `emailed_at` empty means
    the task is still retrying (or gave up: see the worker's log)."""

    list_display = ("created_at", "user", "kind", "key", "emailed_at")
    list_filter = ("kind",)
    search_fields = ("user__email", "key")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in PaymentEmail._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
