"""Per-IP throttling of sign-up, log-in and forgot-password (django-ratelimit).

The decorator only says "limited"; calling `get_usage` ourselves also tells us when
the window ends, which becomes the `Retry-After` of the 429.
"""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from flowmatik.errors import RateLimited

# Endpoint group -> the setting holding its "count/period" rate.
RATE_SETTINGS = {
    "accounts.register": "RATELIMIT_REGISTER",
    "accounts.login": "RATELIMIT_LOGIN",
    "accounts.forgot_password": "RATELIMIT_FORGOT_PASSWORD",
}


def rate_limit_ip(*, request: HttpRequest, group: str) -> None:
    """Count this request against the client IP; raise `RateLimited` over the limit."""
    rate = getattr(settings, RATE_SETTINGS[group])
    usage = get_usage(request, group=group, key="ip", rate=rate, increment=True)
    if usage is not None and usage["should_limit"]:
        # The window's last second still belongs to it: free one second later.
        retry_after = max(1, usage["time_left"] + 1)
        raise RateLimited(
            "Too many requests from this address. Try again later.",
            details={"retry_after": retry_after},
            retry_after=retry_after,
        )
