"""The portal speaks the language saved on the logged-in user's account.

Runs after `LocaleMiddleware` (the language cookie, else Accept-Language) and
`AuthenticationMiddleware`. A session user's saved `language` wins, and the cookie
is brought in line with it, so the choice follows the user to any browser, and
requests without a session (which never load a user here) read it from the cookie.
The language switch (`accounts.views.language_switch`) saves it on the account and
sets the cookie.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


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


class UserLanguageMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        language = _saved_language(getattr(request, "user", None))
        _activate(request, language)
        response = self.get_response(request)
        _cookie_align(request, response, language)
        return response

    async def _acall(self, request: HttpRequest):
        # Only a browser with a session cookie can have a session user: API clients
        # (no cookie) cost no query here.
        language = ""
        if settings.SESSION_COOKIE_NAME in request.COOKIES and hasattr(
            request, "auser"
        ):
            language = _saved_language(await request.auser())
        _activate(request, language)
        response = await self.get_response(request)
        _cookie_align(request, response, language)
        return response
