"""Portal pages for accounts (Django sessions): log in, sign up, log out, passwords,
the language switch and the WebSocket ticket.

They call the same services as the API; errors become form messages.
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services
from accounts.forms import ForgotPasswordForm, LoginForm, ResetPasswordForm, SignupForm
from accounts.ip_throttle import rate_limit_ip
from accounts.middleware import language_cookie_set
from accounts.services.ws_tickets import SESSION_TAG_KEY
from flowmatik.errors import ApplicationError

SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _render_error(
    request: HttpRequest, template: str, context: dict, exc: ApplicationError
) -> HttpResponse:
    """Re-render the form with the error; 429s keep their status and Retry-After."""
    fields = exc.details.get("fields", {})
    context["errors"] = [exc.message] + [
        message for messages_ in fields.values() for message in messages_
    ]
    status = exc.status_code if exc.status_code == 429 else 400
    response = render(request, template, context, status=status)
    for name, value in exc.headers().items():
        response[name] = value
    return response


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "next": _next_url(request)}
    if request.method == "POST" and form.is_valid():
        try:
            rate_limit_ip(request=request, group="accounts.login")
            user = services.user_authenticate(
                request=request,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
            )
        except ApplicationError as exc:
            return _render_error(request, "accounts/login.html", context, exc)
        login(request, user)
        return redirect(context["next"])
    return render(request, "accounts/login.html", context)


@require_http_methods(["GET", "POST"])
def signup_view(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    context: dict[str, Any] = {"form": form, "next": _next_url(request)}
    if request.method == "POST" and form.is_valid():
        try:
            rate_limit_ip(request=request, group="accounts.register")
            user = services.user_register(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
            )
        except ApplicationError as exc:
            return _render_error(request, "accounts/signup.html", context, exc)
        # The language the visitor chose (cookie / switch) becomes the account's.
        language = translation.get_language() or ""
        if language in dict(settings.LANGUAGES) and language != user.language:
            services.user_profile_update(user=user, data={"language": language})
        login(request, user, backend=SESSION_BACKEND)
        return redirect(context["next"])
    return render(request, "accounts/signup.html", context)


@require_http_methods(["GET", "POST"])
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        user_id, tag = request.user.pk, request.session.get(SESSION_TAG_KEY)
        logout(request)
        if user_id and tag:  # its sockets close too (4401 logged out)
            services.user_session_logged_out(user_id=user_id, session_tag=tag)
        messages.info(request, _("You are logged out."))
        return redirect("accounts:login")
    return render(request, "accounts/logout.html")


@require_http_methods(["GET", "POST"])
def password_forgot_view(request: HttpRequest) -> HttpResponse:
    form = ForgotPasswordForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        try:
            rate_limit_ip(request=request, group="accounts.forgot_password")
        except ApplicationError as exc:
            return _render_error(request, "accounts/password_forgot.html", context, exc)
        services.password_reset_request(email=form.cleaned_data["email"])
        return render(request, "accounts/password_forgot_sent.html")
    return render(request, "accounts/password_forgot.html", context)


@require_http_methods(["GET", "POST"])
def password_reset_confirm_view(
    request: HttpRequest, uidb64: str, token: str
) -> HttpResponse:
    form = ResetPasswordForm(request.POST or None)
    context = {"form": form, "valid_link": True}
    template = "accounts/password_reset.html"
    try:
        services.password_reset_check(uidb64=uidb64, token=token)
    except ApplicationError:
        context["valid_link"] = False
        response = render(request, template, context, status=400)
    else:
        if request.method == "POST" and form.is_valid():
            try:
                services.password_reset_confirm(
                    uidb64=uidb64,
                    token=token,
                    new_password=form.cleaned_data["new_password"],
                )
            except ApplicationError as exc:
                response = _render_error(request, template, context, exc)
            else:
                messages.success(request, _("Your password was reset. Log in again."))
                response = redirect(reverse("accounts:login"))
        else:
            response = render(request, template, context)
    # The token is in the URL: never leak it to other sites through Referer.
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """Switch the portal's language: saved on the account when logged in, and in
    the language cookie (`LocaleMiddleware`) for everyone; back to a safe `next`."""
    language = request.POST.get("language", "")
    response = redirect(_next_url(request))
    if language not in dict(settings.LANGUAGES):
        messages.error(request, _("That language is not available."))
        return response
    if request.user.is_authenticated:
        services.user_profile_update(user=request.user, data={"language": language})
    translation.activate(language)
    language_cookie_set(response, language)
    return response


@require_POST
def ws_ticket(request: HttpRequest) -> JsonResponse:
    """`POST /app/ws-ticket/`: a one-use ticket for this session's WebSockets
    (flowmatik/ws_auth.py). Session + CSRF; bound to this page's origin."""
    if not request.user.is_authenticated:
        return JsonResponse(
            {
                "error": {
                    "code": "not_authenticated",
                    "message": _("Log in to open a live connection."),
                    "details": {},
                }
            },
            status=401,
        )
    session_tag = services.ws_session_tag(request.session)
    if not request.session.session_key or request.session.modified:
        request.session.save()
    ticket = services.ws_ticket_mint(
        user_id=request.user.pk,
        session_tag=session_tag,
        session_key=request.session.session_key or "",
        origin=f"{request.scheme}://{request.get_host()}",
    )
    response = JsonResponse(
        {"ticket": ticket, "expires_in": settings.WS_TICKET_TTL_SECONDS}
    )
    response["Cache-Control"] = "no-store"
    return response
