"""The ASGI handler of the OpenAI-compatible API (`/v1/...`): Django with an
async-only middleware chain.

Every `/v1` call is authenticated by an API key in a header and answered by an async
view: it needs no session, CSRF check, session user or flash messages, and Django's
sync-only middleware for those costs a thread hop per hook on every call. This
handler keeps what those calls do need, all run on the event loop: request ids and
the JSON access log, security headers, CORS, the reader's language (cookie or
Accept-Language; a session user's saved language needs a session, which /v1 has
not), the JSON error envelope. Body limits are
Django's own (`DATA_UPLOAD_MAX_MEMORY_SIZE`) and `ChunkedBodyMiddleware`'s, in front
of both handlers. Every other path keeps `settings.MIDDLEWARE`.
"""

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

LEAN_PATH_PREFIX = "/v1/"

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
    return path.startswith(LEAN_PATH_PREFIX)


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
