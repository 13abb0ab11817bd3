"""The settings page (`/app/settings/`): profile, password, API keys, language.

Each form posts to its own view, which calls the same service as the API and
redirects back (or re-renders the page with the form's errors, status 400). A new
API key is shown once, in the response to its creation, and never again.
"""

from datetime import timedelta
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import selectors, services
from accounts.forms import ApiKeyCreateForm, PasswordChangeForm, ProfileForm
from accounts.middleware import language_cookie_set
from accounts.models import User
from accounts.services.ws_tickets import SESSION_TAG_KEY
from billing import selectors as billing_selectors
from flowmatik.errors import ApplicationError

TEMPLATE = "accounts/settings.html"
# One page, three forms: ids of their own, so every label names its own input
PROFILE_IDS, PASSWORD_IDS, API_KEY_IDS = "profile_%s", "password_%s", "apikey_%s"
SETTINGS_URL = "/app/settings/"


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)  # behind login_required


def _profile_initial(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "language": user.language,
        "brand_voice": user.brand_voice,
        "bio": user.bio,
    }


def _page(request: HttpRequest, *, status: int = 200, **forms: Any) -> HttpResponse:
    user = _user(request)
    context: dict[str, Any] = {
        "profile_form": ProfileForm(
            initial=_profile_initial(user), auto_id=PROFILE_IDS
        ),
        "password_form": PasswordChangeForm(auto_id=PASSWORD_IDS),
        "api_key_form": ApiKeyCreateForm(auto_id=API_KEY_IDS),
        "api_keys": list(selectors.api_key_list(user=user)),
        "has_api": billing_selectors.user_has_feature(
            user=user, feature=services.API_FEATURE
        ),
        "plan": billing_selectors.plan_get_for_user(user=user),
        "now": timezone.now(),
    }
    context.update(forms)
    response = render(request, TEMPLATE, context, status=status)
    response["Cache-Control"] = "no-store"  # a new key's secret may be on it
    return response


def _apply_errors(form: Any, exc: ApplicationError) -> None:
    """The service's field errors onto the form's fields, the rest on the form."""
    fields = exc.details.get("fields", {})
    placed = False
    for name, field_messages in fields.items():
        if name in form.fields:
            for message in field_messages:
                form.add_error(name, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@login_required
@require_GET
def settings_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def profile_update(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST, auto_id=PROFILE_IDS)
    if not form.is_valid():
        return _page(request, status=400, profile_form=form)
    try:
        services.user_profile_update(user=_user(request), data=form.cleaned_data)
    except ApplicationError as exc:
        _apply_errors(form, exc)
        return _page(request, status=400, profile_form=form)
    language = form.cleaned_data["language"]
    translation.activate(language)
    request.LANGUAGE_CODE = language
    messages.success(request, _("Your profile is saved."))
    response = redirect(SETTINGS_URL)
    language_cookie_set(response, language)
    return response


@login_required
@require_POST
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.POST, auto_id=PASSWORD_IDS)
    if not form.is_valid():
        return _page(request, status=400, password_form=form)
    try:
        services.user_password_change(
            user=_user(request),
            current_password=form.cleaned_data["current_password"],
            new_password=form.cleaned_data["new_password"],
            session_tag=request.session.get(SESSION_TAG_KEY),
        )
    except ApplicationError as exc:
        _apply_errors(form, exc)
        return _page(request, status=400, password_form=form)
    # This browser stays logged in; every other session and token is logged out.
    update_session_auth_hash(request, _user(request))
    messages.success(
        request,
        _("Your password is changed. Other devices and apps must log in again."),
    )
    return redirect(SETTINGS_URL)


@login_required
@require_POST
def api_key_create(request: HttpRequest) -> HttpResponse:
    form = ApiKeyCreateForm(request.POST, auto_id=API_KEY_IDS)
    if not form.is_valid():
        return _page(request, status=400, api_key_form=form)
    days = form.cleaned_data["expires_in_days"]
    try:
        created = services.api_key_create(
            user=_user(request),
            name=form.cleaned_data["name"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
    except ApplicationError as exc:
        _apply_errors(form, exc)
        return _page(
            request, status=403 if exc.status_code == 403 else 400, api_key_form=form
        )
    return _page(request, new_key=created.raw_key, new_key_name=created.api_key.name)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, api_key_id: int) -> HttpResponse:
    try:
        api_key = selectors.api_key_get(user=_user(request), api_key_id=api_key_id)
    except ApplicationError:
        messages.error(request, _("That API key does not exist."))
        return redirect(SETTINGS_URL)
    services.api_key_revoke(api_key=api_key)
    messages.success(
        request, _("The key “%(name)s” is revoked.") % {"name": api_key.name}
    )
    return redirect(SETTINGS_URL)
