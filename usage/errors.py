"""Errors of the usage app: daily quota exhausted, per-minute rate limit hit."""

from typing import TYPE_CHECKING

from django.utils.translation import gettext_noop

from flowmatik.errors import ApplicationError
from flowmatik.errors import RateLimited as BaseRateLimited

if TYPE_CHECKING:
    from usage.daily_limits import QuotaState


class QuotaExceeded(ApplicationError):
    """429 with which limit (`requests`|`tokens`), the limit, what is used, reset."""

    status_code = 429
    code = "quota_exceeded"
    default_message = gettext_noop("Daily quota exceeded.")
    # Set on a refusal so it carries the same X-RateLimit-* headers as an admitted call.
    quota: "QuotaState | None" = None


class RateLimited(BaseRateLimited):
    """429 `rate_limited`: too many AI calls per minute from this user or IP."""

    default_message = gettext_noop("Too many AI requests, slow down.")
    # Set on a refusal: the day's quota it still tells (X-RateLimit-* headers).
    quota: "QuotaState | None" = None
