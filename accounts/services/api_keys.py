"""API key writes: create (plan-gated), revoke, record use."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.credentials import (
    API_KEY_PREFIX,
    api_key_hash,
    identity_cache_invalidate,
)
from accounts.errors import PlanFeatureRequired
from accounts.models import ApiKey, User
from accounts.services._common import now_and_after_commit
from billing import selectors as billing_selectors
from billing.models import Feature
from flowmatik import realtime
from flowmatik.errors import InvalidInput

logger = logging.getLogger("flowmatik.accounts")

# API access is a plan feature: creating a key needs it, and a key stops working
# when its owner's plan loses it.
API_FEATURE = Feature.API


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the owner once, never stored


def api_key_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> CreatedApiKey:
    """A new key `fmk_<prefix>_<secret>` for a user whose plan has the API feature."""
    if not billing_selectors.user_has_feature(user=user, feature=API_FEATURE):
        raise PlanFeatureRequired(
            _("Your plan does not include API access."),
            details={"feature": API_FEATURE},
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(
            details={"fields": {"expires_at": [_("Must be in the future.")]}}
        )
    for _attempt in range(3):
        prefix = secrets.token_hex(4)
        raw_key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    user=user,
                    name=name,
                    prefix=prefix,
                    hashed_key=api_key_hash(raw_key),
                    expires_at=expires_at,
                )
        except IntegrityError:  # prefix collision: 1 in 4 billion, draw again
            continue
        logger.info(
            "API key created", extra={"userId": str(user.pk), "apiKeyId": api_key.pk}
        )
        return CreatedApiKey(api_key=api_key, raw_key=raw_key)
    raise IntegrityError("Could not draw a unique API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key (idempotent); it stops authenticating at once."""
    if api_key.revoked_at is None:
        now = timezone.now()
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        api_key.revoked_at = now
        logger.info(
            "API key revoked",
            extra={"userId": str(api_key.user_id), "apiKeyId": api_key.pk},
        )
    hashed = api_key.hashed_key
    now_and_after_commit(lambda: identity_cache_invalidate(hashed_key=hashed))
    # Sockets already open with the key are closed too (4401), not only new calls.
    realtime.sockets_close_for_api_key(api_key_id=api_key.pk)
    return api_key


def api_key_last_used_claim(*, api_key_id: int, now: datetime) -> bool:
    """Cache only: True for the one caller per key and interval that must write
    `last_used_at` (`api_key_last_used_write`).

    Time is cut into buckets of API_KEY_LAST_USED_INTERVAL_SECONDS and the cache
    admits one writer per key and bucket (atomic `add`), so a busy key costs no
    write per request.
    """
    interval = max(1, settings.API_KEY_LAST_USED_INTERVAL_SECONDS)
    bucket = int(now.timestamp()) // interval
    return cache.add(f"accounts:apikey-used:{api_key_id}:{bucket}", 1, interval * 2)


_claims_seen: dict[tuple[str, int], None] = {}  # (hashed key, bucket), insertion order
_CLAIMS_SEEN_MAX = 10_000


def api_key_last_used_claimed_here(hashed_key: str, now: datetime) -> bool:
    """True when this process already went through `api_key_last_used_claim` for
    this key and interval (its answer is then known: someone writes); else notes
    that it now does and returns False. Saves a cache round trip per request."""
    interval = max(1, settings.API_KEY_LAST_USED_INTERVAL_SECONDS)
    seen = (hashed_key, int(now.timestamp()) // interval)
    if seen in _claims_seen:
        return True
    if len(_claims_seen) >= _CLAIMS_SEEN_MAX:
        _claims_seen.clear()
    _claims_seen[seen] = None
    return False


def api_key_last_used_write(*, api_key_id: int, now: datetime) -> None:
    ApiKey.objects.filter(pk=api_key_id).update(last_used_at=now)
