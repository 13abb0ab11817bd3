"""The design document's plans: prices, daily limits and features."""

from decimal import Decimal

from billing.models import Feature

PLANS = [
    {
        "slug": "free",
        "name": "Free",
        "description": "Basic chat and community support.",
        "price": Decimal("0.00"),
        "requests_per_day": 100,
        "tokens_per_day": 50_000,
        "features": [Feature.CHAT, Feature.COMMUNITY_SUPPORT],
        "sort_order": 0,
    },
    {
        "slug": "starter",
        "name": "Starter",
        "description": "Images, priority support and API access.",
        "price": Decimal("19.00"),
        "requests_per_day": 1_000,
        "tokens_per_day": 500_000,
        "features": [
            Feature.CHAT,
            Feature.IMAGES,
            Feature.PRIORITY_SUPPORT,
            Feature.API,
        ],
        "sort_order": 1,
    },
    {
        "slug": "pro",
        "name": "Pro",
        "description": "All multimedia, analytics and workflows.",
        "price": Decimal("39.00"),
        "requests_per_day": 10_000,
        "tokens_per_day": 5_000_000,
        "features": [
            Feature.CHAT,
            Feature.IMAGES,
            Feature.AUDIO,
            Feature.VIDEO,
            Feature.ANALYTICS,
            Feature.WORKFLOWS,
            Feature.API,
            Feature.PRIORITY_SUPPORT,
        ],
        "sort_order": 2,
    },
    {
        "slug": "business",
        "name": "Business",
        "description": "Everything included, SLA and integrations.",
        "price": Decimal("79.00"),
        "requests_per_day": None,
        "tokens_per_day": None,
        "features": [
            Feature.CHAT,
            Feature.IMAGES,
            Feature.AUDIO,
            Feature.VIDEO,
            Feature.ANALYTICS,
            Feature.WORKFLOWS,
            Feature.API,
            Feature.PRIORITY_SUPPORT,
            Feature.SLA,
            Feature.INTEGRATIONS,
        ],
        "sort_order": 3,
    },
]
