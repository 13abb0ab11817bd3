"""The webhooks app's errors: stable codes for rejected deliveries."""

from django.utils.translation import gettext_noop

from billing.errors import PaymentsNotConfigured
from flowmatik import errors
from flowmatik.errors import ApplicationError


class WebhookRejected(ApplicationError):
    """A delivery refused before anything is stored (only a counter moves)."""

    reason = "rejected"


class InvalidSignature(WebhookRejected):
    status_code, code = 400, "invalid_signature"
    default_message = gettext_noop("The webhook signature is missing or invalid.")
    reason = "bad_signature"


class StaleSignature(InvalidSignature):
    """A valid signature over a timestamp outside the tolerance: a replayed (or
    badly clocked) delivery. Stripe signs every retry afresh, so a genuine one
    never carries an old timestamp."""

    code = "stale_signature"
    default_message = "The webhook signature's timestamp is outside the tolerance."
    reason = "stale_signature"


class PayloadTooLarge(WebhookRejected, errors.PayloadTooLarge):
    default_message = gettext_noop("The webhook body is too large.")
    reason = "too_large"


class UnsupportedMediaType(WebhookRejected, errors.UnsupportedMediaType):
    default_message = gettext_noop("Webhook bodies must be application/json.")
    reason = "wrong_content_type"


class InvalidPayload(WebhookRejected):
    status_code, code = 400, "invalid_payload"
    default_message = gettext_noop("The webhook body is not a valid event.")
    reason = "invalid_payload"


class TestModeRefused(WebhookRejected):
    status_code, code = 400, "test_mode_refused"
    default_message = gettext_noop(
        "Test-mode events are not accepted by this environment."
    )
    reason = "test_mode"


class EventProcessingError(Exception):
    """A handler could not apply an event; the task retries it."""


__all__ = [
    "EventProcessingError",
    "InvalidPayload",
    "InvalidSignature",
    "StaleSignature",
    "PayloadTooLarge",
    "PaymentsNotConfigured",
    "TestModeRefused",
    "UnsupportedMediaType",
    "WebhookRejected",
]
