"""The ASGI handler of the OpenAI-compatible API (`/v1/...`) and of the payment
providers' webhook receivers: Django with an async-only middleware chain.

Every `/v1` call is authenticated by an API key in a header and answered by an async
view: it needs no session, CSRF check, session user or flash messages, and Django's
sync-only middleware for those costs a thread hop per hook on every call. This
handler keeps what those calls do need, all run on the event loop: request ids and
the JSON access log, security headers, CORS, the reader's language (cookie or
Accept-Language; a session user's saved language needs a session, which /v1 has
not), the JSON error envelope. The webhook receivers (`LEAN_PATHS`) are the same
case: a signed raw body, no session, cookie, CSRF token or user. Body limits are
Django's own (`DATA_UPLOAD_MAX_MEMORY_SIZE`) and `ChunkedBodyMiddleware`'s, in front
of both handlers. Every other path keeps `settings.MIDDLEWARE`.

Django's handler also sends `request_started` and `request_finished` through
`sync_to_async`, so every request starts a worker thread for its thread-sensitive
context (and another to join it) only to run the signals' receivers there. Here
they run on the event loop, where they have nothing to clean up (the loop holds no
database connection), unless the request did run sync code in its context's
thread: then `request_finished` runs in that thread as Django does, to close what
that code opened there.
"""

import asyncio
import contextlib

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpResponseBase
from django.urls import set_script_prefix

LEAN_PATH_PREFIX = "/v1/"
# Exact paths (webhooks_app/api/urls.py): a variant (a trailing slash...) keeps the
# whole chain and its answers.
LEAN_PATHS = frozenset({"/api/webhooks/stripe", "/api/webhooks/lemonsqueezy"})

LEAN_MIDDLEWARE = [
    "flowmatik.middleware.RequestContextMiddleware",
    "flowmatik.middleware.InlineSecurityMiddleware",
    "flowmatik.middleware.SecurityHeadersMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "flowmatik.middleware.InlineLocaleMiddleware",
    "flowmatik.middleware.InlineCommonMiddleware",
    "flowmatik.middleware.InlineXFrameOptionsMiddleware",
    "flowmatik.middleware.ApiExceptionMiddleware",
]


def is_lean_path(path: str) -> bool:
    return path.startswith(LEAN_PATH_PREFIX) or path in LEAN_PATHS


class LeanASGIHandler(ASGIHandler):
    """Django's ASGI handler, its chain built from `LEAN_MIDDLEWARE`."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; give it ours for the
        # duration (this runs once, when the application is created).
        previous = settings.MIDDLEWARE
        settings.MIDDLEWARE = LEAN_MIDDLEWARE
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = previous

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}.")
        async with ThreadSensitiveContext():
            await self._handle(scope, receive, send)

    async def _close(self, response: HttpResponseBase) -> None:
        """`response.close()` (which sends `request_finished`): in the thread of the
        request's sync code if it ran any, else here on the loop."""
        if _ran_sync_code():
            await sync_to_async(response.close)()
        else:
            response.close()

    async def _handle(self, scope, receive, send) -> None:
        """Django 5.2's `ASGIHandler.handle`, its signals sent as `_close` says."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # noqa: S101 - Django returns one
            body_file.close()
            await self.send_response(error_response, send)
            await self._close(error_response)
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            # The client disconnected during send_response: nothing to do.
            with contextlib.suppress(asyncio.CancelledError):
                await self.send_response(response, send)
            return response

        # As Django: a disconnect while the response is made cancels the view.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            if _ran_sync_code():
                await signals.request_finished.asend(sender=self.__class__)
            else:
                signals.request_finished.send(sender=self.__class__)
        else:
            await self._close(response)
        body_file.close()


def _ran_sync_code() -> bool:
    """Whether thread-sensitive sync code ran in the current request's context (its
    thread exists)."""
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor
