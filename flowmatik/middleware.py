"""Cross-cutting HTTP middleware: request ids, access log, security headers, errors.

Each middleware works in both sync and async stacks, so the async AI views never pay
for a thread hop.
"""

import contextvars
import logging
import re
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.functional import SimpleLazyObject, empty

from flowmatik.errors import (
    error_body,
    error_response,
    internal_error_body,
    to_application_error,
)
from flowmatik.metrics import ametrics_record_request, metrics_record_request
from flowmatik.metrics.system import process_reporter_start
from flowmatik.request_context import new_request_id, request_id_var, user_id_var

access_logger = logging.getLogger("flowmatik.access")
error_logger = logging.getLogger("flowmatik.errors")

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class HybridMiddleware:
    """The sync/async shell of a middleware: subclasses fill in the hooks.

    `before` runs ahead of the view (`abefore` on the async stack, which may await;
    it runs `before` unless overridden), `after` on its response. Works in both
    stacks, so an async view never pays for a thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        request._in_async = False
        self.before(request)
        return self.after(request, self.get_response(request))

    async def _acall(self, request: HttpRequest):
        request._in_async = True
        await self.abefore(request)
        return self.after(request, await self.get_response(request))

    def before(self, request: HttpRequest) -> None:
        pass

    async def abefore(self, request: HttpRequest) -> None:
        self.before(request)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


def _user_id(request: HttpRequest, *, in_async: bool) -> str | None:
    """The authenticated user's id; never loads a session user on the async path.

    AuthenticationMiddleware installs `request.user` as a lazy object; evaluating it
    queries the database, which the async path must not do (SynchronousOnlyOperation).
    DRF and the async views replace or bind the user explicitly, and those we read.
    """
    user = request.__dict__.get("user")
    if in_async and isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return user_id_var.get()
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.pk)
    return user_id_var.get()


def _route(request: HttpRequest) -> str:
    """The URL pattern that served the request (bounded label), not the raw path."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else ""


def _context_unbind(request: HttpRequest) -> None:
    """Give the request and user ids back the values they had before the request
    (once: a streamed response calls this when its body is finished and closed)."""
    tokens = request.__dict__.pop("_context_tokens", None)
    if tokens is None:
        return
    request_token, user_token = tokens
    for var, token in ((user_id_var, user_token), (request_id_var, request_token)):
        try:
            var.reset(token)
        except ValueError:
            # The body is closed in another context than the one the ids were
            # bound in: under ASGI a worker thread's copy; under a sync caller
            # (WSGI, the test client) the caller's own context, into which
            # asgiref copied the ids back from the async middleware chain (an
            # async-only middleware such as ServeStatic makes the chain async).
            # Set the previous value in the closing context instead.
            previous = token.old_value
            var.set(None if previous is contextvars.Token.MISSING else previous)


class RequestContextMiddleware(HybridMiddleware):
    """Take or make `X-Request-ID`, bind it to logs, return it, log one access line,
    and record the request in the shared metrics (one write, no database)."""

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        request._in_async = False
        self.before(request)
        response = self.after(request, self.get_response(request))
        metrics_record_request(
            method=request.method,
            route=_route(request),
            status=response.status_code,
            duration_ms=request.duration_ms,
        )
        return response

    async def _acall(self, request: HttpRequest):
        request._in_async = True
        self.before(request)
        response = self.after(request, await self.get_response(request))
        await ametrics_record_request(
            method=request.method,
            route=_route(request),
            status=response.status_code,
            duration_ms=request.duration_ms,
        )
        return response

    def before(self, request: HttpRequest) -> None:
        process_reporter_start("web")
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else new_request_id()
        request.request_id = request_id
        request._started_at = time.perf_counter()
        request._context_tokens = (
            request_id_var.set(request_id),
            user_id_var.set(None),
        )

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["X-Request-ID"] = request.request_id
        duration_ms = (time.perf_counter() - request._started_at) * 1000
        request.duration_ms = duration_ms
        if settings.LOG_ACCESS:
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "service": "access",
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "durationMs": round(duration_ms, 2),
                    "userId": _user_id(request, in_async=request._in_async),
                },
            )
        if response.streaming:
            # A streamed body is produced after this returns and still logs with the
            # request's ids: unbind them when the body is finished and closed.
            response._resource_closers.append(lambda: _context_unbind(request))
        else:
            _context_unbind(request)
        return response


class SecurityHeadersMiddleware(HybridMiddleware):
    """Headers SecurityMiddleware does not set (CSP, Permissions-Policy)."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if settings.CONTENT_SECURITY_POLICY:
            response.setdefault(
                "Content-Security-Policy", settings.CONTENT_SECURITY_POLICY
            )
        response.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/"))


class ApiExceptionMiddleware(HybridMiddleware):
    """JSON errors for API paths, also for non-DRF views and Django's own 404s."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if (
            _is_api(request)
            and response.status_code in (404, 405)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code, message = (
                ("not_found", "Not found.")
                if response.status_code == 404
                else ("method_not_allowed", "Method not allowed.")
            )
            new = JsonResponse(error_body(code, message), status=response.status_code)
            if response.has_header("Allow"):
                new["Allow"] = response["Allow"]
            return new
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not _is_api(request):
            return None
        app_exc = to_application_error(exception)
        if app_exc is not None:
            return error_response(app_exc)
        error_logger.exception("Unhandled exception on %s", request.path)
        return JsonResponse(internal_error_body(), status=500)


class _InlineHooks:
    """For a Django `MiddlewareMixin` whose hooks do no I/O: on the async stack,
    run `process_request` / `process_response` on the event loop instead of in a
    thread (`MiddlewareMixin.__acall__` hops to a thread for each)."""

    async def __acall__(self, request: HttpRequest):
        response = self.process_request(request)  # type: ignore[attr-defined]
        if response is None:
            response = await self.get_response(request)  # type: ignore[attr-defined]
        return self.process_response(request, response)  # type: ignore[attr-defined]


class InlineSecurityMiddleware(_InlineHooks, SecurityMiddleware):
    """Django's SecurityMiddleware (HSTS, nosniff, referrer policy, SSL redirect)
    without thread hops: header work only."""


class InlineCommonMiddleware(_InlineHooks, CommonMiddleware):
    """Django's CommonMiddleware (disallowed user agents, PREPEND_WWW, APPEND_SLASH)
    without thread hops: URL resolution only."""


class InlineLocaleMiddleware(_InlineHooks, LocaleMiddleware):
    """Django's LocaleMiddleware (language cookie, else Accept-Language) without
    thread hops: header parsing and URL resolution only."""


class InlineXFrameOptionsMiddleware(_InlineHooks, XFrameOptionsMiddleware):
    """Django's X-Frame-Options header without a thread hop."""

    def process_request(self, request: HttpRequest) -> None:
        return None
