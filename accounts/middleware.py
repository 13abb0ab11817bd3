"""The portal speaks the language saved on the logged-in user's account.

Runs after `LocaleMiddleware` (the language cookie, else Accept-Language) and
`AuthenticationMiddleware`. A session user's saved `language` wins, and the cookie
is brought in line with it, so the choice follows the user to any browser, and
requests without a session (which never load a user here) read it from the cookie.
The language switch (`accounts.views.language_switch`) saves it on the account and
sets the cookie.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from flowmatik.middleware import HybridMiddleware


def language_cookie_set(response: HttpResponse, language: str) -> None:
    """Remember `language` in the browser (the cookie `LocaleMiddleware` reads)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE or settings.SESSION_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
    )


def _saved_language(user) -> str:
    if user is None or not user.is_authenticated:
        return ""
    language = getattr(user, "language", "") or ""
    return language if language in dict(settings.LANGUAGES) else ""


def _activate(request: HttpRequest, language: str) -> None:
    if language and language != getattr(request, "LANGUAGE_CODE", None):
        translation.activate(language)
        request.LANGUAGE_CODE = language


def _cookie_align(request: HttpRequest, response: HttpResponse, language: str) -> None:
    if settings.LANGUAGE_COOKIE_NAME in response.cookies:
        return  # the view just chose a language (the switch, the profile form)
    if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
        language_cookie_set(response, language)


class UserLanguageMiddleware(HybridMiddleware):
    def before(self, request: HttpRequest) -> None:
        self._apply(request, _saved_language(getattr(request, "user", None)))

    async def abefore(self, request: HttpRequest) -> None:
        # Only a browser with a session cookie can have a session user: API clients
        # (no cookie) cost no query here.
        language = ""
        if settings.SESSION_COOKIE_NAME in request.COOKIES and hasattr(
            request, "auser"
        ):
            language = _saved_language(await request.auser())
        self._apply(request, language)

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        language = request._account_language  # type: ignore[attr-defined]
        _cookie_align(request, response, language)
        return response

    @staticmethod
    def _apply(request: HttpRequest, language: str) -> None:
        # `after` brings the cookie in line with it
        request._account_language = language  # type: ignore[attr-defined]
        _activate(request, language)
