"""Billing tables: plans (limits and features as data)."""

from django.db import models


class Feature(models.TextChoices):
    CHAT = "chat", "Basic chat"
    COMMUNITY_SUPPORT = "community_support", "Community support"
    IMAGES = "images", "Image generation"
    AUDIO = "audio", "Audio generation"
    VIDEO = "video", "Video generation"
    ANALYTICS = "analytics", "Usage analytics"
    WORKFLOWS = "workflows", "Workflows"
    API = "api", "API access"
    PRIORITY_SUPPORT = "priority_support", "Priority support"
    SLA = "sla", "SLA"
    INTEGRATIONS = "integrations", "Integrations"


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
