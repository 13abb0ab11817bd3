"""Billing's error vocabulary (stable codes the API renders)."""

from django.utils.translation import gettext_noop

from flowmatik.errors import ApplicationError


class BillingError(ApplicationError):
    status_code, code = 400, "billing_error"
    default_message = gettext_noop("The billing request could not be processed.")


class PaymentsNotConfigured(BillingError):
    status_code, code = 503, "payments_not_configured"
    default_message = gettext_noop(
        "This payment provider is not configured on this server."
    )


class PlanNotFound(BillingError):
    status_code, code = 404, "plan_not_found"
    default_message = gettext_noop("No such plan.")


class PlanNotPurchasable(BillingError):
    status_code, code = 400, "plan_not_purchasable"
    default_message = gettext_noop("This plan cannot be bought through this provider.")


class SubscriptionExists(BillingError):
    status_code, code = 409, "subscription_exists"
    default_message = gettext_noop(
        "You already have a live subscription; change its plan instead."
    )


class NoSubscription(BillingError):
    status_code, code = 404, "no_subscription"
    default_message = gettext_noop("You have no live subscription.")


class SubscriptionStateConflict(BillingError):
    status_code, code = 409, "subscription_state_conflict"
    default_message = gettext_noop(
        "The subscription cannot do that in its current state."
    )


class PaymentProviderError(BillingError):
    """The provider failed or answered something we cannot use (5xx, odd 4xx)."""

    status_code, code = 502, "payment_provider_error"
    default_message = gettext_noop("The payment provider failed; try again later.")


class PaymentProviderTimeout(PaymentProviderError):
    status_code, code = 504, "payment_provider_timeout"
    default_message = gettext_noop(
        "The payment provider did not answer in time; try again."
    )


class PaymentProviderUnavailable(PaymentProviderError):
    """The provider is rate limiting us (429) after our own retries."""

    status_code, code = 503, "payment_provider_unavailable"
    default_message = gettext_noop("The payment provider is busy; try again shortly.")


class PaymentProviderRejected(PaymentProviderError):
    """The provider refused the request itself (4xx that is not our bug to hide)."""

    status_code, code = 502, "payment_provider_rejected"
    default_message = gettext_noop("The payment provider rejected the request.")


class PaymentDeclined(PaymentProviderError):
    status_code, code = 402, "payment_declined"
    default_message = gettext_noop("The payment was declined.")
