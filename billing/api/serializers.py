"""Input/output serializers of the billing API."""

from rest_framework import serializers

from billing.models import Provider, SubscriptionStatus


class PlanOutputSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()
    interval = serializers.CharField()
    requests_per_day = serializers.IntegerField(
        allow_null=True, help_text="null = unlimited"
    )
    tokens_per_day = serializers.IntegerField(
        allow_null=True, help_text="null = unlimited"
    )
    features = serializers.ListField(child=serializers.CharField())
    providers = serializers.ListField(
        child=serializers.ChoiceField(choices=Provider.choices),
        help_text="Providers that can sell this plan now.",
    )


class SubscriptionOutputSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    plan = serializers.CharField(source="plan.slug")
    status = serializers.ChoiceField(choices=SubscriptionStatus.choices)
    provider_status = serializers.CharField()
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CurrentSubscriptionOutputSerializer(serializers.Serializer):
    plan = PlanOutputSerializer(help_text="The plan that applies now (Free if none).")
    subscription = SubscriptionOutputSerializer(allow_null=True)


class PlanInputSerializer(serializers.Serializer):
    plan = serializers.SlugField(max_length=32)


class CancelInputSerializer(serializers.Serializer):
    immediately = serializers.BooleanField(
        default=False, help_text="End now instead of at period end (admins only)."
    )


class CheckoutOutputSerializer(serializers.Serializer):
    checkout_url = serializers.URLField()


class PortalOutputSerializer(serializers.Serializer):
    url = serializers.URLField()


class InvoiceOutputSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    id = serializers.CharField(source="external_id")
    number = serializers.CharField()
    date = serializers.DateTimeField(source="created_at")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.CharField()
    url = serializers.CharField(help_text="PDF or receipt URL")


class PaymentMethodOutputSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)


def _paginated(name: str, item: type[serializers.Serializer]):
    """The `{count, next, previous, results}` envelope of a paginated list."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


PaginatedPlanOutputSerializer = _paginated("PaginatedPlanOutput", PlanOutputSerializer)
PaginatedInvoiceOutputSerializer = _paginated(
    "PaginatedInvoiceOutput", InvoiceOutputSerializer
)
PaginatedPaymentMethodOutputSerializer = _paginated(
    "PaginatedPaymentMethodOutput", PaymentMethodOutputSerializer
)
