"""Portal pages (Django sessions): log in, sign up, log out, forgot and reset."""

import re

import pytest
from django.core import mail
from django.test import Client, override_settings

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW = "lantern-orchard-quietly-88"


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=False)


def test_login_page_renders_and_logs_in_with_a_session(client, user):
    assert client.get("/login/").status_code == 200
    response = client.post(
        "/login/", {"email": user.email, "password": DEFAULT_PASSWORD, "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    me = client.get("/api/auth/me")  # the session authenticates the API too
    assert me.status_code == 200
    assert me.json()["user"]["email"] == user.email


def test_login_page_with_wrong_password_shows_the_generic_error(client, user):
    response = client.post("/login/", {"email": user.email, "password": "wrong-pass"})
    assert response.status_code == 400
    assert b"The e-mail or password is incorrect." in response.content
    assert "_auth_user_id" not in client.session


def test_login_ignores_offsite_next(client, user):
    response = client.post(
        "/login/",
        {
            "email": user.email,
            "password": DEFAULT_PASSWORD,
            "next": "https://evil.test/",
        },
    )
    assert response["Location"] == "/app/chat/"


def test_signup_creates_account_and_session(client):
    response = client.post(
        "/signup/", {"name": "Ada", "email": "ada@example.com", "password": NEW}
    )
    assert response.status_code == 302
    assert User.objects.filter(email="ada@example.com").exists()
    assert client.get("/api/auth/me").status_code == 200


def test_signup_with_weak_password_shows_errors(client):
    response = client.post("/signup/", {"email": "b@example.com", "password": "123"})
    assert response.status_code == 400
    assert not User.objects.filter(email="b@example.com").exists()


def test_logout_ends_the_session(client, user):
    client.force_login(user)
    assert client.get("/logout/").status_code == 200
    response = client.post("/logout/")
    assert response.status_code == 302
    assert client.get("/api/auth/me").status_code == 401


@override_settings(FRONTEND_URL="https://app.flowmatik.test")
def test_forgot_and_reset_pages_change_the_password(
    client, user, eager_celery, django_capture_on_commit_callbacks
):
    assert client.get("/password/forgot/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/password/forgot/", {"email": user.email})
    assert sent.status_code == 200
    assert b"Check your e-mail" in sent.content
    link = re.search(
        r"https://app\.flowmatik\.test(/password/reset/\S+/)", mail.outbox[0].body
    )
    path = link.group(1)

    page = client.get(path)
    assert page.status_code == 200
    assert page["Referrer-Policy"] == "no-referrer"
    mismatch = client.post(path, {"new_password": NEW, "new_password_again": NEW + "x"})
    assert mismatch.status_code == 200
    assert b"differ" in mismatch.content
    done = client.post(path, {"new_password": NEW, "new_password_again": NEW})
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW)
    used = client.get(path)
    assert used.status_code == 400
    assert b"invalid, expired or already used" in used.content


def test_forgot_page_answers_the_same_for_unknown_email(client, eager_celery):
    response = client.post("/password/forgot/", {"email": "nobody@example.com"})
    assert response.status_code == 200
    assert b"Check your e-mail" in response.content
    assert mail.outbox == []


def test_other_browser_sessions_end_when_password_changes(user):
    browser_a, browser_b = Client(), Client()
    browser_a.force_login(user)
    browser_b.force_login(user)
    response = browser_a.post(
        "/api/auth/change-password",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert browser_a.get("/api/auth/me").status_code == 200
    assert browser_b.get("/api/auth/me").status_code == 401


def test_inactive_user_cannot_log_in_on_the_portal(client):
    inactive = UserFactory(is_active=False)
    response = client.post(
        "/login/", {"email": inactive.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 400
    assert b"The e-mail or password is incorrect." in response.content
