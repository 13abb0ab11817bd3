"""django-axes lockout response (`AXES_LOCKOUT_CALLABLE`): 429 with Retry-After.

The API log-in already answers `account_locked` itself; this keeps AxesMiddleware from
replacing that answer, and gives the portal and admin log-in pages the same status.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.errors import AccountLocked
from accounts.services import lockout_retry_after
from flowmatik.errors import error_response


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    if isinstance(original_response, dict):
        # AxesMiddleware's async path calls us as `(request, credentials)`: the
        # second argument is then the credentials and there is no original response.
        original_response = None
    if original_response is not None and original_response.status_code == 429:
        return original_response
    retry_after = lockout_retry_after(request=request)
    exc = AccountLocked(
        details={"retry_after": int(retry_after)}, retry_after=retry_after
    )
    if request.path.startswith(("/api/", "/v1/")):
        return error_response(exc)
    response = render(
        request,
        "accounts/locked.html",
        {"retry_minutes": max(1, round(exc.retry_after / 60))},
        status=429,
    )
    for name, value in exc.headers().items():
        response[name] = value
    return response


def axes_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The e-mail a log-in attempt is for (`AXES_USERNAME_CALLABLE`), lower-cased.

    Django's `authenticate` reports credentials as `username` while our forms post
    `email`; either way the lockout must key on the same normalised address.
    """
    value = None
    if credentials:
        value = credentials.get("email") or credentials.get("username")
    if value is None and request is not None:
        post = getattr(request, "POST", {})
        value = post.get("email") or post.get("username")
    return value.strip().lower() if isinstance(value, str) and value else None
