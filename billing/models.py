"""Billing tables: plans (limits and features as data), subscriptions, payments."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Feature(models.TextChoices):
    """Plan features; labels are what people read (pricing, billing, errors)."""

    CHAT = "chat", _("Basic chat")
    COMMUNITY_SUPPORT = "community_support", _("Community support")
    IMAGES = "images", _("Image generation")
    AUDIO = "audio", _("Audio generation")
    VIDEO = "video", _("Video generation")
    ANALYTICS = "analytics", _("Usage analytics")
    WORKFLOWS = "workflows", _("Workflows")
    API = "api", _("API access")
    PRIORITY_SUPPORT = "priority_support", _("Priority support")
    SLA = "sla", _("SLA")
    INTEGRATIONS = "integrations", _("Integrations")


class Plan(models.Model):
    """A plan users can be on. `None` limits mean unlimited."""

    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    interval = models.CharField(max_length=16, default="month")
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    features = models.JSONField(default=list, blank=True)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    lemonsqueezy_variant_id = models.CharField(max_length=64, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "price"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="billing_plan_price_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_free(self) -> bool:
        return self.price == 0


class Provider(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    LEMONSQUEEZY = "lemonsqueezy", "LemonSqueezy"


class SubscriptionStatus(models.TextChoices):
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    EXPIRED = "expired", "Expired"
    PAUSED = "paused", "Paused"
    INCOMPLETE = "incomplete", "Incomplete"


# A live subscription has not ended: it occupies the user's one subscription slot.
LIVE_STATUSES = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
    SubscriptionStatus.PAUSED,
    SubscriptionStatus.INCOMPLETE,
)
# Of those, these grant the plan's features (past_due: during the provider's dunning).
GRANTING_STATUSES = (
    SubscriptionStatus.TRIALING,
    SubscriptionStatus.ACTIVE,
    SubscriptionStatus.PAST_DUE,
)


class Subscription(models.Model):
    """One provider-independent subscription, kept in step with the provider.

    `live_user` is the user's id while the subscription is live and NULL otherwise;
    its unique index is the portable form of "at most one live subscription per
    user" (MariaDB has no partial unique indexes), and the check constraint keeps
    it honest (only a live subscription may hold it, and only for its own user).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="subscriptions",
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    external_id = models.CharField("provider subscription id", max_length=255)
    external_customer_id = models.CharField(
        "provider customer id", max_length=255, blank=True
    )
    status = models.CharField(
        max_length=16,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.INCOMPLETE,
    )
    provider_status = models.CharField(
        max_length=32, blank=True, help_text="The provider's own status word."
    )
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    ended_at = models.DateTimeField(null=True, blank=True)
    provider_updated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Time of the provider data last applied; older data is ignored.",
    )
    card_brand = models.CharField(max_length=32, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    live_user = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                name="billing_subscription_provider_external_id_uniq",
            ),
            models.CheckConstraint(
                condition=models.Q(live_user__isnull=True)
                | (
                    models.Q(live_user=models.F("user"))
                    & models.Q(status__in=[s.value for s in LIVE_STATUSES])
                ),
                name="billing_subscription_live_user_is_live_owner",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="billing_sub_user_idx"),
            models.Index(
                fields=["provider", "external_customer_id"],
                name="billing_sub_customer_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.plan_id} {self.provider} {self.status}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class PaymentStatus(models.TextChoices):
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"
    REFUNDED = "refunded", "Refunded"


class Payment(models.Model):
    """One charge from either provider (revenue and MRR are computed from these)."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    external_id = models.CharField(max_length=255)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="payments",
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PAID
    )
    paid_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                name="billing_payment_provider_external_id_uniq",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="billing_payment_amount_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.external_id} {self.amount} {self.currency}"


class PaymentEmailKind(models.TextChoices):
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    ACTION_REQUIRED = "action_required", "Payment needs confirmation"


class PaymentEmail(models.Model):
    """One e-mail about a payment problem, at most once per provider attempt.

    `key` names the attempt (provider, invoice, attempt number): the unique index
    keeps a second delivery of the same attempt from queueing a second e-mail, and
    `emailed_at`, claimed by a conditional update, keeps two workers from sending
    it twice.
    """

    key = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=PaymentEmailKind.choices)
    action_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
