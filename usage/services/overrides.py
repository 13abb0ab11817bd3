"""Staff's per-user quota overrides (raised limits, temporary boosts)."""

from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction

from usage.daily_limits import override_cache_invalidate
from usage.models import QuotaOverride

if TYPE_CHECKING:
    from accounts.models import User


def quota_override_set(
    *,
    user_id: int,
    requests_per_day: int | None = None,
    tokens_per_day: int | None = None,
    unlimited: bool = False,
    boost_requests: int = 0,
    boost_tokens: int = 0,
    boost_until: datetime | None = None,
    reason: str = "",
    updated_by: "User | None" = None,
) -> QuotaOverride:
    """Create or replace a user's override; it applies to the next call at once."""
    override, _ = QuotaOverride.objects.update_or_create(
        user_id=user_id,
        defaults={
            "requests_per_day": requests_per_day,
            "tokens_per_day": tokens_per_day,
            "unlimited": unlimited,
            "boost_requests": boost_requests,
            "boost_tokens": boost_tokens,
            "boost_until": boost_until,
            "reason": reason,
            "updated_by": updated_by,
        },
    )
    transaction.on_commit(lambda: override_cache_invalidate(user_id=user_id))
    override_cache_invalidate(user_id=user_id)
    return override


def quota_override_delete(*, user_id: int) -> None:
    QuotaOverride.objects.filter(user_id=user_id).delete()
    transaction.on_commit(lambda: override_cache_invalidate(user_id=user_id))
    override_cache_invalidate(user_id=user_id)
