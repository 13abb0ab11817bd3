"""The settings page (/app/settings/) through Django's test client: profile,
password, API keys (shown once, plan gate in words), language; bad input is a 4xx
with the error in words, never a 500."""

import pytest
from django.conf import settings
from django.test import Client

from accounts.credentials import api_key_hash
from accounts.models import ApiKey
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from billing.tests.factories import subscription_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_settings_need_a_log_in():
    response = Client().get("/app/settings/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/app/settings/"


def test_profile_is_saved_through_the_profile_service(browser, user):
    response = browser.post(
        "/app/settings/profile/",
        {"name": "Ada", "language": "es", "brand_voice": "Warm", "bio": "Poet"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.name, user.language, user.brand_voice, user.bio) == (
        "Ada",
        "es",
        "Warm",
        "Poet",
    )
    # The language is remembered in the browser too (LocaleMiddleware's cookie)
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    page = browser.get("/app/settings/")
    assert "Tu perfil está guardado." in page.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "language": "klingon"},
        {"name": "x" * 151, "language": "en"},
        {},
    ],
)
def test_a_bad_profile_is_a_400_with_the_error_in_words(browser, user, data):
    response = browser.post("/app/settings/profile/", data)
    assert response.status_code == 400
    assert b"field__error" in response.content
    user.refresh_from_db()
    assert user.name != "x"


def test_password_change_keeps_this_session_logged_in(browser, user):
    response = browser.post(
        "/app/settings/password/",
        {
            "current_password": DEFAULT_PASSWORD,
            "new_password": "A-much-better-passphrase-42",
            "new_password_again": "A-much-better-passphrase-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("A-much-better-passphrase-42")
    assert browser.get("/app/settings/").status_code == 200  # still logged in


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {
                "current_password": "wrong",
                "new_password": "A-much-better-passphrase-42",
                "new_password_again": "A-much-better-passphrase-42",
            },
            "The password is incorrect.",
        ),
        (
            {
                "current_password": DEFAULT_PASSWORD,
                "new_password": "A-much-better-passphrase-42",
                "new_password_again": "something else",
            },
            "The two new passwords differ.",
        ),
        (
            {
                "current_password": DEFAULT_PASSWORD,
                "new_password": "123",
                "new_password_again": "123",
            },
            "This password is too short.",
        ),
    ],
)
def test_a_refused_password_change_says_why(browser, user, data, error):
    response = browser.post("/app/settings/password/", data)
    assert response.status_code == 400
    assert error in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_a_free_user_is_told_in_words_why_there_are_no_keys(browser, user):
    page = browser.get("/app/settings/")
    assert "does not include API access" in page.content.decode()
    refused = browser.post("/app/settings/api-keys/", {"name": "blog"})
    assert refused.status_code == 403
    assert "Your plan does not include API access." in refused.content.decode()
    assert not ApiKey.objects.filter(user=user).exists()


def test_a_new_key_is_shown_once_and_works(browser, user):
    subscription_row(user=user, plan="starter")
    response = browser.post(
        "/app/settings/api-keys/", {"name": "blog", "expires_in_days": "30"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = response.context["new_key"]
    assert raw.startswith("fmk_")
    assert raw in response.content.decode()
    key = ApiKey.objects.get(user=user)
    assert key.hashed_key == api_key_hash(raw)
    assert key.expires_at is not None
    again = browser.get("/app/settings/")
    assert raw not in again.content.decode()
    assert f"fmk_{key.prefix}_" in again.content.decode()


@pytest.mark.parametrize(
    "data", [{"name": ""}, {"name": "x" * 101}, {"name": "ok", "expires_in_days": "7"}]
)
def test_a_bad_key_request_is_a_400(browser, user, data):
    subscription_row(user=user, plan="starter")
    response = browser.post("/app/settings/api-keys/", data)
    assert response.status_code == 400
    assert not ApiKey.objects.filter(user=user).exists()


def test_revoking_a_key_stops_it_and_another_users_key_is_untouched(browser, user):
    from accounts.services import api_key_create

    subscription_row(user=user, plan="starter")
    mine = api_key_create(user=user, name="mine").api_key
    other = UserFactory()
    subscription_row(user=other, plan="starter")
    theirs = api_key_create(user=other, name="theirs").api_key

    response = browser.post(f"/app/settings/api-keys/{mine.pk}/revoke/")
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None

    for bad in (theirs.pk, 999999999, 2**70):
        response = browser.post(f"/app/settings/api-keys/{bad}/revoke/")
        assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert browser.get("/app/settings/api-keys/1/revoke/").status_code == 405


def test_language_switch_is_remembered_on_the_user(browser, user):
    response = browser.post("/language/", {"language": "es", "next": "/app/settings/"})
    assert response.status_code == 302
    assert response["Location"] == "/app/settings/"
    user.refresh_from_db()
    assert user.language == "es"
    # A new browser (no cookie) of the same user gets Spanish from the account
    fresh = Client()
    fresh.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    page = fresh.get("/app/settings/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert '<html lang="es">' in page.content.decode()
    assert "Ajustes" in page.content.decode()
    assert page.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"


def test_language_switch_refuses_unknown_languages_and_offsite_next(browser, user):
    response = browser.post(
        "/language/", {"language": "xx", "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/app/chat/"
    user.refresh_from_db()
    assert user.language == "en"


def test_a_visitor_switches_language_by_cookie():
    client = Client()
    response = client.post("/language/", {"language": "es", "next": "/pricing/"})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "es"
    page = client.get("/pricing/")
    assert "Precios" in page.content.decode()


def test_sign_up_keeps_the_visitors_language_and_a_safe_next():
    client = Client()
    client.post("/language/", {"language": "es", "next": "/"})
    response = client.post(
        "/signup/?next=/billing/",
        {"email": "nueva@example.com", "password": "Una-clave-muy-larga-42"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/billing/"
    from accounts.models import User

    assert User.objects.get(email="nueva@example.com").language == "es"
