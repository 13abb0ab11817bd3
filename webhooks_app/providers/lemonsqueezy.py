"""LemonSqueezy API reads the webhooks need: a subscription's current state (its
payment events carry an invoice, not the subscription). Thin httpx client, JSON:API,
explicit timeouts; settings read at call time."""

from typing import Any

import httpx
from django.conf import settings

from webhooks_app.providers import ProviderUnavailable

JSONAPI = "application/vnd.api+json"


def is_configured() -> bool:
    return bool(settings.LEMONSQUEEZY_API_KEY)


def subscription_current(*, subscription_id: str) -> dict[str, Any] | None:
    """The subscription resource object (`data`) as LemonSqueezy has it now; None
    when the API is not configured or the subscription does not exist."""
    if not subscription_id or not is_configured():
        return None
    timeout = float(settings.LEMONSQUEEZY_TIMEOUT_SECONDS)
    url = (
        f"{settings.LEMONSQUEEZY_API_BASE.rstrip('/')}/subscriptions/{subscription_id}"
    )
    try:
        response = httpx.get(
            url,
            headers={
                "Accept": JSONAPI,
                "Authorization": f"Bearer {settings.LEMONSQUEEZY_API_KEY}",
            },
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"LemonSqueezy: {type(exc).__name__}") from exc
    if response.status_code == 404:
        return None
    if response.status_code >= 300:
        raise ProviderUnavailable(f"LemonSqueezy: HTTP {response.status_code}")
    try:
        data = response.json()["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ProviderUnavailable("LemonSqueezy: unreadable response") from exc
    return data if isinstance(data, dict) else None
