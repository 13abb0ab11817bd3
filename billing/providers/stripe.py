"""Stripe adapter: the only module that imports `stripe` and dj-stripe.

Every call pins `STRIPE_API_VERSION`, goes to `STRIPE_API_BASE` with an explicit
timeout, sends a deterministic idempotency key on writes, and turns Stripe's errors
into `billing.errors` types. Settings are read at call time so tests can repoint it.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import stripe
from django.conf import settings
from djstripe.models import Customer
from djstripe.models import Event as DjstripeEvent
from djstripe.models import Subscription as DjstripeSubscription

from billing.errors import (
    PaymentDeclined,
    PaymentProviderError,
    PaymentProviderRejected,
    PaymentProviderTimeout,
    PaymentProviderUnavailable,
    PaymentsNotConfigured,
)
from billing.providers import (
    CheckoutResult,
    ProviderInvoice,
    ProviderPaymentMethod,
    ProviderSubscription,
)

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("flowmatik.billing")

NAME = "stripe"

_STATUS_MAP = {
    "trialing": "trialing",
    "active": "active",
    "past_due": "past_due",
    "unpaid": "past_due",
    "canceled": "canceled",
    "incomplete": "incomplete",
    "incomplete_expired": "expired",
    "paused": "paused",
}
# Currencies Stripe counts in whole units (no cents).
_ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
    "vnd", "vuv", "xaf", "xof", "xpf",
}  # fmt: skip

_http_clients: dict[float, Any] = {}
# The library's module globals as imported; `_configure` repoints them per call.
_LIBRARY_DEFAULTS = (
    stripe.api_base,
    stripe.api_version,
    stripe.default_http_client,
    stripe.max_network_retries,
)
LIST_LIMIT = 100  # Stripe's maximum page size


def is_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _livemode() -> bool:
    return str(settings.STRIPE_SECRET_KEY).startswith("sk_live_")


def _configure() -> str:
    """Point the library at the configured base/version/timeout; return the key."""
    if not is_configured():
        raise PaymentsNotConfigured(
            "Stripe is not configured: set STRIPE_SECRET_KEY and the plan price ids."
        )
    timeout = float(settings.STRIPE_TIMEOUT_SECONDS)
    client = _http_clients.get(timeout)
    if client is None:
        client = _http_clients[timeout] = stripe.RequestsClient(timeout=timeout)
    stripe.default_http_client = client
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.api_version = settings.STRIPE_API_VERSION
    stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES
    return str(settings.STRIPE_SECRET_KEY)


def library_reset() -> None:
    """Put the library's globals back as imported (after tests repointed them)."""
    (
        stripe.api_base,
        stripe.api_version,
        stripe.default_http_client,
        stripe.max_network_retries,
    ) = _LIBRARY_DEFAULTS


def _opts(**extra: Any) -> dict[str, Any]:
    return {
        "api_key": _configure(),
        "stripe_version": settings.STRIPE_API_VERSION,
        **extra,
    }


@contextmanager
def _errors(operation: str) -> Iterator[None]:
    """Translate Stripe's exceptions into ours (the message never holds the key)."""
    try:
        yield
    except stripe.CardError as exc:
        raise PaymentDeclined(exc.user_message or "The card was declined.") from exc
    except stripe.RateLimitError as exc:
        raise PaymentProviderUnavailable(retry_after=5) from exc
    except stripe.APIConnectionError as exc:
        logger.warning(
            "Stripe unreachable", extra={"operation": operation, "provider": NAME}
        )
        if "Timeout" in str(exc):
            raise PaymentProviderTimeout() from exc
        raise PaymentProviderError(
            "The payment provider could not be reached.",
            code="payment_provider_unreachable",
        ) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        logger.error(
            "Stripe rejected our credentials",
            extra={"operation": operation, "http_status": exc.http_status},
        )
        raise PaymentProviderError(
            "The payment provider rejected this server's credentials.",
            code="payment_provider_auth_failed",
        ) from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        logger.warning(
            "Stripe error",
            extra={
                "operation": operation,
                "http_status": status,
                "stripe_code": exc.code,
                "stripe_request_id": exc.request_id,
            },
        )
        details = {"provider": NAME, "provider_status": status}
        if exc.code:
            details["provider_code"] = exc.code
        if 400 <= status < 500:
            raise PaymentProviderRejected(details=details) from exc
        raise PaymentProviderError(details=details) from exc


def timestamp(value: Any) -> datetime | None:
    """An aware datetime from a Stripe Unix timestamp (None when absent)."""
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def object_id(value: Any) -> str:
    """An id from a field that may be an id string or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def plain(obj: Any) -> dict[str, Any]:
    """A plain dict from a dict or a `stripe.StripeObject` (which is not a dict)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def money_from_minor(amount: int | None, currency: str) -> Decimal:
    value = Decimal(int(amount or 0))
    if currency.lower() in _ZERO_DECIMAL:
        return value
    return (value / 100).quantize(Decimal("0.01"))


def parse_subscription(
    obj: dict[str, Any], *, updated_at: datetime | None = None
) -> ProviderSubscription:
    """A Stripe Subscription object (API version basil or later) in our terms."""
    obj = plain(obj)
    items = (obj.get("items") or {}).get("data") or []
    price_ref = object_id(items[0].get("price")) if items else ""
    # basil (2025-03-31) moved the period to the items; older versions kept it here.
    ends = [i.get("current_period_end") for i in items if i.get("current_period_end")]
    period_end = (
        timestamp(max(ends)) if ends else timestamp(obj.get("current_period_end"))
    )
    metadata = obj.get("metadata") or {}
    user_id = metadata.get("user_id")
    provider_status = str(obj.get("status") or "")
    card = (
        (obj.get("default_payment_method") or {}).get("card")
        if isinstance(obj.get("default_payment_method"), dict)
        else None
    ) or {}
    return ProviderSubscription(
        provider=NAME,
        external_id=str(obj["id"]),
        customer_id=object_id(obj.get("customer")),
        status=_STATUS_MAP.get(provider_status, "incomplete"),
        provider_status=provider_status,
        price_ref=price_ref,
        current_period_end=period_end,
        cancel_at_period_end=bool(obj.get("cancel_at_period_end"))
        or bool(obj.get("cancel_at")),
        updated_at=updated_at,
        user_id=int(str(user_id)) if str(user_id or "").isdigit() else None,
        card_brand=str(card.get("brand") or ""),
        card_last4=str(card.get("last4") or ""),
    )


def parse_invoice(obj: dict[str, Any]) -> ProviderInvoice:
    obj = plain(obj)
    currency = str(obj.get("currency") or "usd")
    paid = obj.get("status") == "paid"
    amount = obj.get("amount_paid") if paid else obj.get("amount_due")
    return ProviderInvoice(
        provider=NAME,
        external_id=str(obj["id"]),
        number=str(obj.get("number") or ""),
        created_at=timestamp(obj.get("created")) or datetime.now(tz=UTC),
        amount=money_from_minor(amount, currency),
        currency=currency.upper(),
        status=str(obj.get("status") or ""),
        url=str(obj.get("invoice_pdf") or obj.get("hosted_invoice_url") or ""),
    )


def invoice_subscription_id(obj: dict[str, Any]) -> str:
    """The subscription an Invoice belongs to (basil moved it under `parent`)."""
    obj = plain(obj)
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return object_id(details.get("subscription")) or object_id(obj.get("subscription"))


# --- customers (through dj-stripe) ---


def customer_get_or_create(*, user: "User") -> str:
    """The user's Stripe customer id, created once (dj-stripe's idempotency key)."""
    api_key = _configure()
    livemode = _livemode()
    with _errors("customer.create"):
        customer, _ = Customer.get_or_create(
            subscriber=user,
            livemode=livemode,
            api_key=api_key,
            metadata={"user_id": str(user.pk)},
        )
    return str(customer.id)


def customer_user_id(*, customer_id: str) -> int | None:
    """Our user id for a Stripe customer id, from dj-stripe's customer table."""
    if not customer_id:
        return None
    return cast(
        int | None,
        Customer.objects.filter(id=customer_id)
        .values_list("subscriber_id", flat=True)
        .first(),
    )


def customer_link(*, customer_id: str, user: "User", livemode: bool = False) -> None:
    """Remember that `customer_id` belongs to `user` (e.g. from a checkout)."""
    Customer.objects.get_or_create(
        id=customer_id, defaults={"subscriber": user, "livemode": livemode}
    )


# --- events (webhooks) ---


def event_sync(*, payload: dict[str, Any]) -> None:
    """Hand a verified webhook event to dj-stripe: it stores its `Event` once and
    its handlers re-read the event's objects from the API (so order does not
    matter). A no-op when Stripe is not configured."""
    if not is_configured():
        return
    with _errors("event.sync"):
        DjstripeEvent.process(data=payload, api_key=_configure())


# --- checkout and subscriptions ---


def checkout_create(
    *,
    user: "User",
    plan_slug: str,
    price_ref: str,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> CheckoutResult:
    customer_id = customer_get_or_create(user=user)
    metadata = {"user_id": str(user.pk), "plan": plan_slug}
    with _errors("checkout.create"):
        session = stripe.checkout.Session.create(
            mode="subscription",
            customer=customer_id,
            client_reference_id=str(user.pk),
            line_items=[{"price": price_ref, "quantity": 1}],
            metadata=metadata,
            subscription_data={"metadata": metadata},
            success_url=success_url,
            cancel_url=cancel_url,
            **_opts(idempotency_key=idempotency_key),
        )
    return CheckoutResult(
        url=str(session["url"]), external_id=str(session["id"]), customer_id=customer_id
    )


def subscription_get(*, external_id: str) -> ProviderSubscription:
    with _errors("subscription.get"):
        obj = stripe.Subscription.retrieve(
            external_id, expand=["default_payment_method"], **_opts()
        )
    return parse_subscription(plain(obj), updated_at=datetime.now(tz=UTC))


def subscription_current(*, external_id: str) -> dict[str, Any] | None:
    """The subscription as Stripe has it now, as a plain Stripe object, also
    synced into dj-stripe's table. None when Stripe is not configured, or does
    not know the subscription."""
    if not external_id or not is_configured():
        return None
    api_key = _configure()
    try:
        with _errors("subscription.current"):
            obj = stripe.Subscription.retrieve(
                external_id, api_key=api_key, stripe_version=settings.STRIPE_API_VERSION
            )
            DjstripeSubscription.sync_from_stripe_data(obj, api_key=api_key)
    except PaymentProviderRejected as exc:
        if exc.details.get("provider_status") == 404:
            return None
        raise
    return plain(obj)


def subscription_cancel(
    *, external_id: str, immediately: bool, idempotency_key: str
) -> ProviderSubscription:
    with _errors("subscription.cancel"):
        if immediately:
            obj = stripe.Subscription.cancel(
                external_id, **_opts(idempotency_key=idempotency_key)
            )
        else:
            obj = stripe.Subscription.modify(
                external_id,
                cancel_at_period_end=True,
                **_opts(idempotency_key=idempotency_key),
            )
    return parse_subscription(plain(obj), updated_at=datetime.now(tz=UTC))


def subscription_resume(
    *, external_id: str, idempotency_key: str
) -> ProviderSubscription:
    with _errors("subscription.resume"):
        obj = stripe.Subscription.modify(
            external_id,
            cancel_at_period_end=False,
            **_opts(idempotency_key=idempotency_key),
        )
    return parse_subscription(plain(obj), updated_at=datetime.now(tz=UTC))


def subscription_change_price(
    *, external_id: str, price_ref: str, idempotency_key: str
) -> ProviderSubscription:
    with _errors("subscription.change_price"):
        current = plain(stripe.Subscription.retrieve(external_id, **_opts()))
        items = (current.get("items") or {}).get("data") or []
        if not items:
            raise PaymentProviderError("The subscription has no item to change.")
        obj = stripe.Subscription.modify(
            external_id,
            items=[{"id": items[0]["id"], "price": price_ref}],
            proration_behavior="create_prorations",
            cancel_at_period_end=False,
            **_opts(idempotency_key=idempotency_key),
        )
    return parse_subscription(plain(obj), updated_at=datetime.now(tz=UTC))


def subscription_list(
    *, statuses: tuple[str, ...] = ("active", "trialing", "past_due")
) -> Iterator[ProviderSubscription]:
    """Every subscription in `statuses` (for reconciliation), newest first."""
    for status in statuses:
        with _errors("subscription.list"):
            page = stripe.Subscription.list(status=status, limit=LIST_LIMIT, **_opts())
            for obj in page.auto_paging_iter():
                yield parse_subscription(plain(obj), updated_at=datetime.now(tz=UTC))


# --- invoices, payment methods, portal ---


def invoice_list(*, customer_id: str, limit: int = 100) -> list[ProviderInvoice]:
    with _errors("invoice.list"):
        page = stripe.Invoice.list(customer=customer_id, limit=limit, **_opts())
    return [parse_invoice(plain(obj)) for obj in page.data]


def payment_method_list(*, customer_id: str) -> list[ProviderPaymentMethod]:
    with _errors("payment_method.list"):
        page = stripe.PaymentMethod.list(
            customer=customer_id, type="card", limit=20, **_opts()
        )
    methods = []
    for obj in page.data:
        card = plain(obj).get("card") or {}
        methods.append(
            ProviderPaymentMethod(
                provider=NAME,
                brand=str(card.get("brand") or ""),
                last4=str(card.get("last4") or ""),
                exp_month=card.get("exp_month"),
                exp_year=card.get("exp_year"),
            )
        )
    return methods


def portal_url(*, customer_id: str, return_url: str) -> str:
    with _errors("portal.create"):
        session = stripe.billing_portal.Session.create(
            customer=customer_id, return_url=return_url, **_opts()
        )
    return str(session["url"])
