"""The model catalogue's writes: seeding the default models."""

from ai.models import AIModel
from ai.seed_data import seed_models
from ai.selectors import catalogue_invalidate


def model_seed_defaults() -> int:
    """Create the missing seeded models (idempotent); `manage.py seed` calls it."""
    created = seed_models(AIModel)
    if created:
        catalogue_invalidate()
    return created
