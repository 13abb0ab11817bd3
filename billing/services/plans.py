"""Plan writes: seeding the default plans."""

from django.db import transaction

from billing.models import Plan
from billing.seed_data import PLANS


@transaction.atomic
def plan_seed_defaults() -> int:
    """Create the default plans that are missing; never overwrite staff edits."""
    created = 0
    for data in PLANS:
        _, was_created = Plan.objects.get_or_create(slug=data["slug"], defaults=data)
        created += int(was_created)
    return created
