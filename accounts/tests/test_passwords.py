"""Password life cycle: Argon2 hashing, change, forgot and reset."""

import re

import pytest
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.test import override_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import services
from accounts.models import User
from accounts.tests.conftest import bearer, jwt_login
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from flowmatik.settings import base as production_settings

pytestmark = pytest.mark.django_db

NEW = "lantern-orchard-quietly-88"
LINK_RE = re.compile(r"http://portal\.test(/password/reset/([^/]+)/([^/]+)/)")


@override_settings(PASSWORD_HASHERS=production_settings.PASSWORD_HASHERS)
def test_new_password_hashes_are_argon2id_with_production_hashers(api_client):
    assert make_password("anything").startswith("argon2$argon2id$")
    api_client.post(
        "/api/auth/register",
        {"email": "argon@example.com", "password": NEW},
        format="json",
    )
    user = User.objects.get(email="argon@example.com")
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password(NEW)


# --- change password ---


def test_change_password_revokes_other_sessions_and_returns_a_new_pair(
    api_client, user
):
    session_a = jwt_login(api_client, user.email)
    session_b = jwt_login(api_client, user.email)
    response = bearer(session_a["access"]).post(
        "/api/auth/change-password",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW},
        format="json",
    )
    assert response.status_code == 200
    fresh = response.json()
    user.refresh_from_db()
    assert user.check_password(NEW)
    # Every refresh token from before is spent; the new one works.
    for old in (session_a, session_b):
        reuse = api_client.post(
            "/api/auth/refresh", {"refresh": old["refresh"]}, format="json"
        )
        assert reuse.status_code == 401
        assert bearer(old["access"]).get("/api/auth/me").status_code == 401
    assert bearer(fresh["access"]).get("/api/auth/me").status_code == 200
    refreshed = api_client.post(
        "/api/auth/refresh", {"refresh": fresh["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200


def test_change_password_with_wrong_current_password_is_400(auth_client, user):
    response = auth_client.post(
        "/api/auth/change-password",
        {"current_password": "not-it-at-all", "new_password": NEW},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "wrong_password"
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_change_password_to_a_weak_one_is_400(auth_client):
    response = auth_client.post(
        "/api/auth/change-password",
        {"current_password": DEFAULT_PASSWORD, "new_password": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_password"


def test_change_password_needs_authentication(api_client):
    response = api_client.post("/api/auth/change-password", {}, format="json")
    assert response.status_code == 401


# --- forgot password ---


@override_settings(FRONTEND_URL="http://portal.test")
def test_forgot_password_answers_identically_for_known_and_unknown_emails(
    api_client,
    eager_celery,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    UserFactory(email="known@example.com")
    answers = []
    for email in ["known@example.com", "unknown@example.com"]:
        # Same work in the request for both: no query, one task enqueued.
        with (
            django_assert_num_queries(0),
            django_capture_on_commit_callbacks() as callbacks,
        ):
            response = api_client.post(
                "/api/auth/forgot-password", {"email": email}, format="json"
            )
        assert len(callbacks) == 1
        answers.append((response.status_code, response.json()["detail"]))
        for callback in callbacks:
            callback()
    assert answers[0][0] == 202
    assert answers[0] == answers[1]
    assert [m.to for m in mail.outbox] == [["known@example.com"]]
    assert LINK_RE.search(mail.outbox[0].body)


def test_forgot_password_sends_nothing_for_inactive_accounts(
    api_client, eager_celery, django_capture_on_commit_callbacks
):
    UserFactory(email="gone@example.com", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/auth/forgot-password", {"email": "gone@example.com"}, format="json"
        )
    assert response.status_code == 202
    assert mail.outbox == []


def test_forgot_password_rejects_malformed_email(api_client):
    response = api_client.post(
        "/api/auth/forgot-password", {"email": "nope"}, format="json"
    )
    assert response.status_code == 400


def test_reset_email_task_sends_once_per_task_id(user):
    assert services.password_reset_email_send(email=user.email, dedupe_key="t-1")
    assert not services.password_reset_email_send(email=user.email, dedupe_key="t-1")
    assert len(mail.outbox) == 1


# --- reset password ---


def _reset_link(client, email, django_capture_on_commit_callbacks) -> tuple[str, str]:
    with (
        override_settings(FRONTEND_URL="http://portal.test"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        client.post("/api/auth/forgot-password", {"email": email}, format="json")
    match = LINK_RE.search(mail.outbox[-1].body)
    return match.group(2), match.group(3)


def test_reset_password_sets_password_revokes_tokens_and_is_single_use(
    api_client, user, eager_celery, django_capture_on_commit_callbacks
):
    session = jwt_login(api_client, user.email)
    uid, token = _reset_link(api_client, user.email, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/auth/reset-password",
            {"uid": uid, "token": token, "new_password": NEW},
            format="json",
        )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert mail.outbox[-1].subject == "Your Flowmatik password was changed"
    live = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    assert not live.exists()
    reuse = api_client.post(
        "/api/auth/refresh", {"refresh": session["refresh"]}, format="json"
    )
    assert reuse.status_code == 401
    assert bearer(session["access"]).get("/api/auth/me").status_code == 401

    again = api_client.post(
        "/api/auth/reset-password",
        {"uid": uid, "token": token, "new_password": "another-" + NEW},
        format="json",
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_reset_token"
    user.refresh_from_db()
    assert user.check_password(NEW)
    jwt_login(api_client, user.email, NEW)


@override_settings(PASSWORD_RESET_TIMEOUT=3600)
def test_reset_link_expires_after_the_timeout(
    api_client, user, eager_celery, django_capture_on_commit_callbacks, time_machine
):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    uid, token = _reset_link(api_client, user.email, django_capture_on_commit_callbacks)
    time_machine.move_to("2026-03-01T11:00:01Z", tick=False)
    response = api_client.post(
        "/api/auth/reset-password",
        {"uid": uid, "token": token, "new_password": NEW},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_reset_token"
    time_machine.move_to("2026-03-01T10:59:00Z", tick=False)
    ok = api_client.post(
        "/api/auth/reset-password",
        {"uid": uid, "token": token, "new_password": NEW},
        format="json",
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("uid", "token"), [("bm9wZQ", "abc-def"), ("!!", "x"), ("MTIzNDU2Nzg5", "a-b")]
)
def test_reset_with_bad_uid_or_token_is_400(api_client, user, uid, token):
    response = api_client.post(
        "/api/auth/reset-password",
        {"uid": uid, "token": token, "new_password": NEW},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_reset_token"


def test_reset_with_weak_password_keeps_the_link_usable(
    api_client, user, eager_celery, django_capture_on_commit_callbacks
):
    uid, token = _reset_link(api_client, user.email, django_capture_on_commit_callbacks)
    weak = api_client.post(
        "/api/auth/reset-password",
        {"uid": uid, "token": token, "new_password": "abc"},
        format="json",
    )
    assert weak.status_code == 400
    assert weak.json()["error"]["code"] == "invalid_password"
    ok = api_client.post(
        "/api/auth/reset-password",
        {"uid": uid, "token": token, "new_password": NEW},
        format="json",
    )
    assert ok.status_code == 200


@override_settings(PASSWORD_RESET_EMAILS_PER_HOUR=2)
def test_reset_emails_per_account_are_capped_per_hour(user, time_machine):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    sent = [
        services.password_reset_email_send(email=user.email, dedupe_key=f"t{n}")
        for n in range(3)
    ]
    assert sent == [True, True, False]
    assert len(mail.outbox) == 2
    time_machine.move_to("2026-03-01T11:00:00Z", tick=False)
    assert services.password_reset_email_send(email=user.email, dedupe_key="t9")


@override_settings(FRONTEND_URL="http://portal.test", ALLOWED_HOSTS=["*"])
def test_reset_link_ignores_the_host_header(
    api_client, user, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post(
            "/api/auth/forgot-password",
            {"email": user.email},
            format="json",
            HTTP_HOST="evil.test",
        )
    assert LINK_RE.search(mail.outbox[0].body)
    assert "evil.test" not in mail.outbox[0].body


def test_no_password_or_token_reaches_logs_or_responses(api_client, caplog):
    caplog.set_level("DEBUG")
    secret = "unique-Secret-" + NEW
    new_secret = "other-Secret-" + NEW
    reg = api_client.post(
        "/api/auth/register",
        {"email": "logs@example.com", "password": secret},
        format="json",
    )
    bad = api_client.post(
        "/api/auth/login",
        {"email": "logs@example.com", "password": secret + "x"},
        format="json",
    )
    change = bearer(reg.json()["access"]).post(
        "/api/auth/change-password",
        {"current_password": secret, "new_password": new_secret},
        format="json",
    )
    assert (reg.status_code, bad.status_code, change.status_code) == (201, 401, 200)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for response in (reg, bad, change):
        assert secret not in response.content.decode()
        assert new_secret not in response.content.decode()
    assert "Password changed" in logged  # the flow did log
    assert secret not in logged
    assert new_secret not in logged
    assert reg.json()["refresh"] not in logged
