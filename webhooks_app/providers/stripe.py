"""Stripe through dj-stripe: sync an event's objects, read a subscription's current
state. Settings are read at call time (tests point `STRIPE_API_BASE` at a fake)."""

import logging
from typing import Any

import stripe
from django.conf import settings
from djstripe.models import Event as DjstripeEvent
from djstripe.models import Subscription as DjstripeSubscription

from webhooks_app.providers import ProviderUnavailable

logger = logging.getLogger("flowmatik.webhooks_app")

_http_clients: dict[float, Any] = {}


def _configure() -> str:
    timeout = float(settings.STRIPE_TIMEOUT_SECONDS)
    client = _http_clients.get(timeout)
    if client is None:
        client = _http_clients[timeout] = stripe.RequestsClient(timeout=timeout)
    stripe.default_http_client = client
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.api_version = settings.STRIPE_API_VERSION
    stripe.max_network_retries = getattr(settings, "STRIPE_MAX_NETWORK_RETRIES", 0)
    return settings.STRIPE_SECRET_KEY


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def event_sync(*, payload: dict[str, Any]) -> None:
    """Hand a verified event to dj-stripe: it stores its `Event` once and its
    handlers re-retrieve the objects from the API (so order does not matter)."""
    if not is_configured():
        return
    api_key = _configure()
    try:
        DjstripeEvent.process(data=payload, api_key=api_key)
    except stripe.StripeError as exc:
        logger.warning(
            "dj-stripe could not sync an event",
            extra={"event_id": payload.get("id"), "http_status": exc.http_status},
        )
        raise ProviderUnavailable(f"Stripe: {type(exc).__name__}") from exc


def subscription_current(*, subscription_id: str) -> dict[str, Any] | None:
    """The subscription as Stripe has it now: fetched from the API and synced into
    dj-stripe's table. None when Stripe is not configured or does not know it."""
    if not subscription_id or not is_configured():
        return None
    api_key = _configure()
    try:
        obj = stripe.Subscription.retrieve(
            subscription_id,
            api_key=api_key,
            stripe_version=settings.STRIPE_API_VERSION,
        )
        DjstripeSubscription.sync_from_stripe_data(obj, api_key=api_key)
        data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise ProviderUnavailable(f"Stripe: {type(exc).__name__}") from exc
    except stripe.StripeError as exc:
        raise ProviderUnavailable(f"Stripe: {type(exc).__name__}") from exc
    return data
