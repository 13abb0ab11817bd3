"""One error vocabulary: `ApplicationError` with a stable code, rendered one way.

Services raise `ApplicationError` subclasses (never HTTP exceptions); the DRF exception
handler and `error_response` render `{"error": {...}, "request_id"}` with the status.
"""

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext, gettext_noop
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions as drf
from rest_framework.response import Response

from flowmatik.request_context import get_request_id

logger = logging.getLogger("flowmatik.errors")


class ApplicationError(Exception):
    """A failure a client can be told about, with a stable machine-readable code."""

    status_code = 400
    code = "bad_request"
    # Marked for translation (gettext_noop) and translated when raised, into the
    # language of the request that raises it: the portal's readers see it in
    # theirs (the code never changes). A message passed in is used as given.
    default_message = gettext_noop("The request could not be processed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message: str = message or gettext(self.default_message)
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details or {}
        self.retry_after = retry_after
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


class InvalidInput(ApplicationError):
    status_code, code, default_message = (
        400,
        "invalid_input",
        gettext_noop("Invalid input."),
    )


class NotAuthenticated(ApplicationError):
    status_code = 401
    code = "not_authenticated"
    default_message = gettext_noop(
        "Authentication credentials were not provided or are invalid."
    )


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"
    default_message = gettext_noop("You do not have permission to do this.")


class NotFound(ApplicationError):
    status_code, code, default_message = 404, "not_found", gettext_noop("Not found.")


class Conflict(ApplicationError):
    status_code, code, default_message = (
        409,
        "conflict",
        gettext_noop("Conflict with current state."),
    )


class PayloadTooLarge(ApplicationError):
    status_code, code, default_message = (
        413,
        "payload_too_large",
        gettext_noop("The body is too large."),
    )


class UnsupportedMediaType(ApplicationError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = gettext_noop("Send the body as application/json.")


class RateLimited(ApplicationError):
    status_code, code, default_message = (
        429,
        "rate_limited",
        gettext_noop("Too many requests."),
    )


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "service_unavailable"
    default_message = gettext_noop("The service is unavailable, try again later.")


DATABASE_RETRY_AFTER_SECONDS = 2


def error_body(
    code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": details or {}},
        "request_id": get_request_id(),
    }


def error_response(
    exc: ApplicationError, *, headers: dict[str, str] | None = None
) -> JsonResponse:
    """Render an ApplicationError outside DRF (plain Django and async views), with
    the error's own headers (Retry-After) and any `headers` given."""
    return JsonResponse(
        error_body(exc.code, exc.message, exc.details),
        status=exc.status_code,
        headers={**exc.headers(), **(headers or {})},
    )


def _ratelimit_retry_after(exc: Exception) -> float:
    return float(getattr(exc, "retry_after", None) or 60)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return gettext(NotAuthenticated.default_message)
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _authentication_message(exc: drf.APIException) -> tuple[str, str]:
    """A sentence for people and the detail code for code.

    simplejwt raises with a dict detail (`detail`, `code`, `messages`); rendering it
    with `str()` would show a Python repr, so the most specific message is used.
    """
    detail = exc.detail
    if isinstance(detail, dict):
        text = str(detail.get("detail", ""))
        for entry in detail.get("messages") or []:
            if isinstance(entry, dict) and entry.get("message"):
                text = str(entry["message"])
                break
        return _sentence(text), str(detail.get("code") or exc.default_code)
    codes = exc.get_codes()
    return _sentence(str(detail)), codes if isinstance(codes, str) else exc.default_code


def to_application_error(exc: Exception) -> ApplicationError | None:
    """Map framework exceptions to our vocabulary; None for unexpected ones."""
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, OperationalError | InterfaceError):
        # The database dropped the connection, refused one, or timed out a lock:
        # transient, and the transaction it interrupted was rolled back whole.
        logger.warning(
            "Database unavailable", extra={"error": type(exc).__name__}, exc_info=exc
        )
        return ServiceUnavailable(
            "The database is unavailable, try again shortly.",
            code="database_unavailable",
            retry_after=DATABASE_RETRY_AFTER_SECONDS,
        )
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):
        return ApplicationError("The request was refused as malformed.")
    if isinstance(exc, Ratelimited):
        return RateLimited(retry_after=_ratelimit_retry_after(exc))
    if isinstance(exc, Http404 | drf.NotFound):
        return NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        return InvalidInput(details={"fields": fields})
    if isinstance(exc, drf.ParseError):
        return InvalidInput(str(exc.detail), code="malformed_request")
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType(str(exc.detail))
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        code = (
            "authentication_failed"
            if isinstance(exc, drf.AuthenticationFailed)
            else None
        )
        message, reason = _authentication_message(exc)
        return NotAuthenticated(message, code=code, details={"reason": reason})
    if isinstance(exc, drf.PermissionDenied):
        return PermissionDenied(str(exc.detail))
    if isinstance(exc, drf.Throttled):
        return RateLimited(retry_after=exc.wait or 1)
    if isinstance(exc, drf.APIException):
        codes = exc.get_codes()
        return ApplicationError(
            str(exc.detail),
            code=codes if isinstance(codes, str) else exc.default_code,
            status_code=exc.status_code,
        )
    return None


def internal_error_body() -> dict[str, Any]:
    return error_body("internal_error", "An unexpected error occurred.")


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF exception handler: every error leaves as the one envelope."""
    app_exc = to_application_error(exc)
    if app_exc is None:
        logger.exception(
            "Unhandled API exception", extra={"view": str(context.get("view"))}
        )
        return Response(internal_error_body(), status=500)
    response = Response(
        error_body(app_exc.code, app_exc.message, app_exc.details),
        status=app_exc.status_code,
    )
    for name, value in app_exc.headers().items():
        response[name] = value
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
