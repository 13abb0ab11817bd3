"""The design document's plans: prices, daily limits and features.

Descriptions are stored in English and marked for translation: the portal shows a
seeded description in the reader's language (an edited one as written)."""

from decimal import Decimal

from django.utils.translation import gettext_noop

from billing.models import Feature

PLANS = [
    {
        "slug": "free",
        "name": "Free",
        "description": gettext_noop("Basic chat and community support."),
        "price": Decimal("0.00"),
        "requests_per_day": 100,
        "tokens_per_day": 50_000,
        "features": [Feature.CHAT, Feature.COMMUNITY_SUPPORT],
        "sort_order": 0,
    },
    {
        "slug": "starter",
        "name": "Starter",
        "description": gettext_noop("Images, priority support and API access."),
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
        "description": gettext_noop("All multimedia, analytics and workflows."),
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
        "description": gettext_noop("Everything included, SLA and integrations."),
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
