"""LemonSqueezy adapter: a thin JSON:API client of our own over httpx.

Bearer key, explicit timeouts, retries with backoff on 429 (and on 5xx for reads),
errors mapped to `billing.errors`. Settings are read at call time.
"""

import logging
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from billing.errors import (
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

NAME = "lemonsqueezy"
JSONAPI = "application/vnd.api+json"
LIST_PAGE_SIZE = 100  # LemonSqueezy's maximum page size

_STATUS_MAP = {
    "on_trial": "trialing",
    "active": "active",
    "paused": "paused",
    "past_due": "past_due",
    "unpaid": "past_due",
    # `cancelled` is a grace period: paid up until `ends_at`, can be resumed.
    "cancelled": "active",
    "expired": "expired",
}


def is_configured() -> bool:
    return bool(settings.LEMONSQUEEZY_API_KEY and settings.LEMONSQUEEZY_STORE_ID)


def _client() -> httpx.Client:
    if not is_configured():
        raise PaymentsNotConfigured(
            "LemonSqueezy is not configured: set LEMONSQUEEZY_API_KEY, "
            "LEMONSQUEEZY_STORE_ID and the plan variant ids."
        )
    timeout = float(settings.LEMONSQUEEZY_TIMEOUT_SECONDS)
    return httpx.Client(
        base_url=settings.LEMONSQUEEZY_API_BASE.rstrip("/") + "/",
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={
            "Accept": JSONAPI,
            "Content-Type": JSONAPI,
            "Authorization": f"Bearer {settings.LEMONSQUEEZY_API_KEY}",
        },
    )


def _retry_delay(response: httpx.Response | None, attempt: int) -> float:
    """Seconds to wait: LemonSqueezy's Retry-After if usable, else our backoff.

    Always finite and within 0..LEMONSQUEEZY_MAX_RETRY_AFTER_SECONDS: a negative,
    NaN or infinite header would make `time.sleep` raise or hang.
    """
    cap = max(0.0, float(settings.LEMONSQUEEZY_MAX_RETRY_AFTER_SECONDS))
    base = float(settings.LEMONSQUEEZY_RETRY_BACKOFF_SECONDS)
    header = response.headers.get("Retry-After") if response is not None else None
    delay = base * (2**attempt)
    if header:
        try:
            asked = float(header)
        except ValueError:
            asked = math.nan
        if math.isfinite(asked):  # NaN or +-inf: our own backoff instead
            delay = asked
    return float(min(max(0.0, delay), cap))


def _request(
    method: str,
    path: str,
    *,
    operation: str,
    json: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One API call with bounded retries; the parsed JSON:API document."""
    max_retries = int(settings.LEMONSQUEEZY_MAX_RETRIES)
    retry_5xx = method == "GET"
    response: httpx.Response | None = None
    with _client() as client:
        for attempt in range(max_retries + 1):
            try:
                response = client.request(
                    method, path.lstrip("/"), json=json, params=params
                )
            except httpx.TimeoutException as exc:
                logger.warning(
                    "LemonSqueezy timed out",
                    extra={"operation": operation, "provider": NAME},
                )
                raise PaymentProviderTimeout() from exc
            except httpx.TransportError as exc:
                logger.warning(
                    "LemonSqueezy unreachable",
                    extra={"operation": operation, "provider": NAME},
                )
                raise PaymentProviderError(
                    "The payment provider could not be reached.",
                    code="payment_provider_unreachable",
                ) from exc
            status = response.status_code
            retryable = status == 429 or (retry_5xx and status >= 500)
            if not retryable or attempt == max_retries:
                break
            time.sleep(_retry_delay(response, attempt))
    assert response is not None  # noqa: S101 (the loop runs at least once)
    return _handle(response, operation=operation)


def _handle(response: httpx.Response, *, operation: str) -> dict[str, Any]:
    status = response.status_code
    if status < 300:
        try:
            return response.json() if response.content else {}
        except ValueError as exc:
            logger.warning(
                "LemonSqueezy sent unreadable JSON", extra={"operation": operation}
            )
            raise PaymentProviderError(
                "The payment provider sent an unreadable answer."
            ) from exc
    details = {"provider": NAME, "provider_status": status}
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        errors = []
    if errors and isinstance(errors[0], dict):
        details["provider_detail"] = str(errors[0].get("detail", ""))[:200]
    log_extra = {"operation": operation, "http_status": status}
    if status == 429:
        logger.warning("LemonSqueezy rate limited us", extra=log_extra)
        raise PaymentProviderUnavailable(
            details=details, retry_after=_retry_delay(response, 0)
        )
    if status in (401, 403):
        logger.error("LemonSqueezy rejected our credentials", extra=log_extra)
        raise PaymentProviderError(
            "The payment provider rejected this server's credentials.",
            code="payment_provider_auth_failed",
            details=details,
        )
    logger.warning("LemonSqueezy error", extra=log_extra)
    if 400 <= status < 500:
        raise PaymentProviderRejected(details=details)
    raise PaymentProviderError(details=details)


def timestamp(value: Any) -> datetime | None:
    """An aware datetime from LemonSqueezy's ISO 8601 strings (None when absent)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def money_from_minor(amount: Any) -> Decimal:
    """LemonSqueezy amounts are integers in cents."""
    return (Decimal(int(amount or 0)) / 100).quantize(Decimal("0.01"))


def parse_subscription(
    data: dict[str, Any], *, custom_data: dict[str, Any] | None = None
) -> ProviderSubscription:
    """A JSON:API `subscriptions` resource object in our terms."""
    attrs = data.get("attributes") or {}
    provider_status = str(attrs.get("status") or "")
    cancelled = provider_status == "cancelled" or bool(attrs.get("cancelled"))
    ending = provider_status in ("cancelled", "expired") or cancelled
    period_end = timestamp(attrs.get("ends_at")) if ending else None
    period_end = period_end or timestamp(attrs.get("renews_at"))
    status = _STATUS_MAP.get(provider_status, "incomplete")
    if provider_status == "cancelled" and attrs.get("trial_ends_at"):
        trial_end = timestamp(attrs["trial_ends_at"])
        if trial_end and trial_end > datetime.now(tz=UTC):
            status = "trialing"
    raw_user = (custom_data or {}).get("user_id")
    urls = attrs.get("urls") or {}
    return ProviderSubscription(
        provider=NAME,
        external_id=str(data["id"]),
        customer_id=str(attrs.get("customer_id") or ""),
        status=status,
        provider_status=provider_status,
        price_ref=str(attrs.get("variant_id") or ""),
        current_period_end=period_end,
        cancel_at_period_end=cancelled and provider_status != "expired",
        updated_at=timestamp(attrs.get("updated_at")),
        user_id=int(str(raw_user)) if str(raw_user or "").strip().isdigit() else None,
        card_brand=str(attrs.get("card_brand") or ""),
        card_last4=str(attrs.get("card_last_four") or ""),
        portal_url=str(urls.get("customer_portal") or ""),
    )


def parse_invoice(data: dict[str, Any]) -> ProviderInvoice:
    """A `subscription-invoices` (or `orders`) resource object in our terms."""
    attrs = data.get("attributes") or {}
    urls = attrs.get("urls") or {}
    number = attrs.get("order_number") or attrs.get("identifier") or data["id"]
    return ProviderInvoice(
        provider=NAME,
        external_id=str(data["id"]),
        number=str(number),
        created_at=timestamp(attrs.get("created_at")) or datetime.now(tz=UTC),
        amount=money_from_minor(attrs.get("total")),
        currency=str(attrs.get("currency") or "USD").upper(),
        status=str(attrs.get("status") or ""),
        url=str(urls.get("invoice_url") or urls.get("receipt") or ""),
    )


# --- checkout and subscriptions ---


def checkout_create(
    *,
    user: "User",
    plan_slug: str,
    price_ref: str,
    success_url: str,
    cancel_url: str = "",
    idempotency_key: str = "",
) -> CheckoutResult:
    """`POST /v1/checkouts` for one variant, carrying our user id as custom data."""
    body = {
        "data": {
            "type": "checkouts",
            "attributes": {
                "checkout_data": {
                    "email": user.email,
                    "custom": {"user_id": str(user.pk), "plan": plan_slug},
                },
                "product_options": {
                    "redirect_url": success_url,
                    "enabled_variants": [int(price_ref)],
                },
                "checkout_options": {"embed": False},
                "test_mode": bool(settings.LEMONSQUEEZY_TEST_MODE),
            },
            "relationships": {
                "store": {
                    "data": {
                        "type": "stores",
                        "id": str(settings.LEMONSQUEEZY_STORE_ID),
                    }
                },
                "variant": {"data": {"type": "variants", "id": str(price_ref)}},
            },
        }
    }
    doc = _request("POST", "checkouts", operation="checkout.create", json=body)
    data = doc.get("data") or {}
    url = (data.get("attributes") or {}).get("url")
    if not url:
        raise PaymentProviderError("The payment provider returned no checkout URL.")
    return CheckoutResult(url=str(url), external_id=str(data.get("id") or ""))


def subscription_get(*, external_id: str) -> ProviderSubscription:
    doc = _request("GET", f"subscriptions/{external_id}", operation="subscription.get")
    return parse_subscription(doc["data"])


def subscription_current(*, external_id: str) -> dict[str, Any] | None:
    """The `subscriptions` resource object as LemonSqueezy has it now (webhooks
    re-read it: payment events carry an invoice). None when LemonSqueezy is not
    configured or does not know the subscription."""
    if not external_id or not is_configured():
        return None
    try:
        doc = _request(
            "GET", f"subscriptions/{external_id}", operation="subscription.current"
        )
    except PaymentProviderRejected as exc:
        if exc.details.get("provider_status") == 404:
            return None
        raise
    data = doc.get("data")
    if not isinstance(data, dict):
        raise PaymentProviderError("The payment provider returned no subscription.")
    return data


def _patch(
    external_id: str, attributes: dict[str, Any], operation: str
) -> ProviderSubscription:
    body = {
        "data": {
            "type": "subscriptions",
            "id": str(external_id),
            "attributes": attributes,
        }
    }
    doc = _request(
        "PATCH", f"subscriptions/{external_id}", operation=operation, json=body
    )
    return parse_subscription(doc["data"])


def subscription_cancel(
    *, external_id: str, immediately: bool = False, idempotency_key: str = ""
) -> ProviderSubscription:
    """`DELETE /v1/subscriptions/{id}`: LemonSqueezy ends it at the period end.

    LemonSqueezy has no immediate cancellation; `immediately` is honoured by the
    caller ending access locally (no renewal will follow).
    """
    doc = _request(
        "DELETE", f"subscriptions/{external_id}", operation="subscription.cancel"
    )
    return parse_subscription(doc["data"])


def subscription_resume(
    *, external_id: str, idempotency_key: str = ""
) -> ProviderSubscription:
    return _patch(external_id, {"cancelled": False}, "subscription.resume")


def subscription_change_price(
    *, external_id: str, price_ref: str, idempotency_key: str = ""
) -> ProviderSubscription:
    return _patch(
        external_id, {"variant_id": int(price_ref)}, "subscription.change_price"
    )


def subscription_list(
    *, statuses: tuple[str, ...] = ()
) -> Iterator[ProviderSubscription]:
    """Every subscription of our store (for reconciliation), page by page."""
    page = 1
    while True:
        params = {
            "filter[store_id]": str(settings.LEMONSQUEEZY_STORE_ID),
            "page[number]": page,
            "page[size]": LIST_PAGE_SIZE,
        }
        doc = _request(
            "GET", "subscriptions", operation="subscription.list", params=params
        )
        for data in doc.get("data") or []:
            sub = parse_subscription(data)
            if not statuses or sub.provider_status in statuses:
                yield sub
        pagination = (doc.get("meta") or {}).get("page") or {}
        if page >= int(pagination.get("lastPage") or 1):
            return
        page += 1


# --- invoices, payment methods, portal ---


def invoice_list(*, subscription_id: str, limit: int = 100) -> list[ProviderInvoice]:
    doc = _request(
        "GET",
        "subscription-invoices",
        operation="invoice.list",
        params={"filter[subscription_id]": subscription_id, "page[size]": limit},
    )
    return [parse_invoice(d) for d in doc.get("data") or []]


def order_list(*, user_email: str, limit: int = 100) -> list[ProviderInvoice]:
    """One-off orders (first payments, receipts) of a customer, by e-mail."""
    doc = _request(
        "GET",
        "orders",
        operation="order.list",
        params={
            "filter[store_id]": str(settings.LEMONSQUEEZY_STORE_ID),
            "filter[user_email]": user_email,
            "page[size]": limit,
        },
    )
    return [parse_invoice(d) for d in doc.get("data") or []]


def payment_method_list(*, external_id: str) -> list[ProviderPaymentMethod]:
    """LemonSqueezy exposes only the subscription's card brand and last four."""
    sub = subscription_get(external_id=external_id)
    if not sub.card_last4:
        return []
    return [
        ProviderPaymentMethod(provider=NAME, brand=sub.card_brand, last4=sub.card_last4)
    ]


def portal_url(*, external_id: str) -> str:
    """A freshly signed portal URL (valid 24 h) from the subscription itself."""
    sub = subscription_get(external_id=external_id)
    if not sub.portal_url:
        raise PaymentProviderError("The payment provider returned no portal URL.")
    return sub.portal_url
