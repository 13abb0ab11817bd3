"""Register, log in, refresh, log out, me, profile: success and failure paths."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.conftest import bearer, jwt_login
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "violet-harbour-telescope-42"


def test_register_creates_user_and_returns_token_pair(api_client):
    response = api_client.post(
        "/api/auth/register",
        {"email": "Ada@Example.com", "password": STRONG, "name": "Ada"},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["name"] == "Ada"
    assert body["token_type"] == "Bearer"
    assert "password" not in str(body).lower().replace("password_", "")
    user = User.objects.get(email="ada@example.com")
    assert user.check_password(STRONG)
    me = bearer(body["access"]).get("/api/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["id"] == user.pk


def test_register_with_taken_email_in_other_case_is_409(api_client):
    UserFactory(email="taken@example.com")
    response = api_client.post(
        "/api/auth/register",
        {"email": "TAKEN@example.com", "password": STRONG},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


@pytest.mark.parametrize("password", ["zq9x", "qwerty123", "12345678901"])
def test_register_rejects_weak_passwords_with_field_errors(api_client, password):
    response = api_client.post(
        "/api/auth/register",
        {"email": "weak@example.com", "password": password},
        format="json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_password"
    assert error["details"]["fields"]["password"]
    assert password not in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()


def test_register_rejects_invalid_email(api_client):
    response = api_client.post(
        "/api/auth/register",
        {"email": "not-an-email", "password": STRONG},
        format="json",
    )
    assert response.status_code == 400
    assert "email" in response.json()["error"]["details"]["fields"]


def test_login_returns_pair_and_updates_last_login(api_client, user):
    body = jwt_login(api_client, user.email.upper())
    assert body["user"]["email"] == user.email
    assert body["access"]
    assert body["refresh"]
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_error_is_identical_for_unknown_wrong_and_inactive(api_client):
    UserFactory(email="known@example.com")
    UserFactory(email="inactive@example.com", is_active=False)
    attempts = [
        ("nobody@example.com", DEFAULT_PASSWORD),
        ("known@example.com", "wrong-password-here"),
        ("inactive@example.com", DEFAULT_PASSWORD),
    ]
    answers = []
    for email, password in attempts:
        response = api_client.post(
            "/api/auth/login", {"email": email, "password": password}, format="json"
        )
        error = response.json()["error"]
        answers.append((response.status_code, error["code"], error["message"]))
    assert answers[0] == (401, "invalid_credentials", answers[0][2])
    assert len(set(answers)) == 1


def test_login_with_missing_fields_is_400(api_client):
    response = api_client.post("/api/auth/login", {"email": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["details"]["fields"]


def test_refresh_rotates_and_the_old_refresh_token_is_spent(api_client, user):
    pair = jwt_login(api_client, user.email)
    first = api_client.post(
        "/api/auth/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh"] != pair["refresh"]
    assert bearer(rotated["access"]).get("/api/auth/me").status_code == 200

    reuse = api_client.post(
        "/api/auth/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "invalid_token"
    again = api_client.post(
        "/api/auth/refresh", {"refresh": rotated["refresh"]}, format="json"
    )
    assert again.status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_refresh_with_invalid_token_is_401(api_client, token):
    response = api_client.post("/api/auth/refresh", {"refresh": token}, format="json")
    assert response.status_code == 401


def test_refresh_with_an_access_token_is_401(api_client, user):
    pair = jwt_login(api_client, user.email)
    response = api_client.post(
        "/api/auth/refresh", {"refresh": pair["access"]}, format="json"
    )
    assert response.status_code == 401


def test_refresh_for_deactivated_user_is_401(api_client, user):
    pair = jwt_login(api_client, user.email)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = api_client.post(
        "/api/auth/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert response.status_code == 401


def test_logout_blacklists_refresh_token_and_reuse_gives_401(api_client, user):
    pair = jwt_login(api_client, user.email)
    out = api_client.post(
        "/api/auth/logout", {"refresh": pair["refresh"]}, format="json"
    )
    assert out.status_code == 204
    reuse = api_client.post(
        "/api/auth/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert reuse.status_code == 401


def test_logout_with_invalid_token_is_401_and_without_one_400(api_client):
    bad = api_client.post("/api/auth/logout", {"refresh": "nope"}, format="json")
    assert bad.status_code == 401
    missing = api_client.post("/api/auth/logout", {}, format="json")
    assert missing.status_code == 400


def test_me_returns_profile_role_plan_and_quota(api_client, user):
    pair = jwt_login(api_client, user.email)
    response = bearer(pair["access"]).get("/api/auth/me")
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == user.email
    assert body["role"] == "user"
    assert body["plan"]["slug"] == "free"
    assert "api" not in body["plan"]["features"]
    quota = body["quota"]
    assert quota["limit_requests"] == 100
    assert quota["limit_tokens"] == 50_000
    assert quota["requests_used"] == 0
    assert quota["remaining_requests"] == 100
    # The API's one datetime format, like /api/ai/usage/today: the next UTC midnight.
    reset_at = datetime.fromisoformat(quota["reset_at"])
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date()
    assert reset_at == datetime.combine(tomorrow, time.min, tzinfo=UTC)


def test_me_shows_premium_and_admin_roles(paid_users):
    paid = UserFactory()
    paid_users.add(paid.pk)
    staff = UserFactory(is_staff=True)
    for user, role, plan in [(paid, "premium", "starter"), (staff, "admin", "free")]:
        client = APIClient()
        client.force_authenticate(user)
        body = client.get("/api/auth/me").json()
        assert (body["role"], body["plan"]["slug"]) == (role, plan)


def test_me_without_credentials_is_401(api_client):
    response = api_client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_me_with_expired_access_token_is_401(api_client, user, time_machine):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    pair = jwt_login(api_client, user.email)
    time_machine.shift(16 * 60)
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 401


def test_profile_patch_updates_only_given_fields(auth_client, user):
    response = auth_client.patch(
        "/api/auth/profile",
        {
            "company": "Acme",
            "brand_voice": "Warm, concise.",
            "timezone": "Europe/Madrid",
        },
        format="json",
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.company, user.brand_voice, user.timezone) == (
        "Acme",
        "Warm, concise.",
        "Europe/Madrid",
    )
    assert response.json()["company"] == "Acme"


def test_profile_put_with_some_fields_updates_those_and_keeps_the_rest(
    auth_client, user
):
    full = {
        "name": "New Name",
        "company": "",
        "timezone": "UTC",
        "language": "es",
        "avatar_url": "https://example.com/a.png",
        "brand_voice": "",
        "bio": "Writer.",
    }
    assert auth_client.put("/api/auth/profile", full, format="json").status_code == 200
    user.refresh_from_db()
    assert (user.name, user.language, user.bio) == ("New Name", "es", "Writer.")
    # A frontend form sends what it shows: no avatar_url, brand_voice or bio.
    form = {"name": "Ana", "company": "Acme", "timezone": "Europe/Madrid"}
    response = auth_client.put("/api/auth/profile", form, format="json")
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.name, user.company, user.timezone) == ("Ana", "Acme", "Europe/Madrid")
    assert (user.language, user.avatar_url, user.bio) == (
        "es",
        "https://example.com/a.png",
        "Writer.",
    )
    assert response.json()["bio"] == "Writer."


@pytest.mark.parametrize(
    "payload",
    [
        {"timezone": "Mars/Olympus"},
        {"language": "xx"},
        {"avatar_url": "not a url"},
    ],
)
def test_profile_rejects_invalid_values(auth_client, payload):
    response = auth_client.patch("/api/auth/profile", payload, format="json")
    assert response.status_code == 400
    assert set(payload) <= set(response.json()["error"]["details"]["fields"])


def test_profile_needs_authentication(api_client):
    assert api_client.patch("/api/auth/profile", {}, format="json").status_code == 401


def test_logout_with_the_access_token_revokes_it_at_once(api_client, user):
    pair = jwt_login(api_client, user.email)
    other = jwt_login(api_client, user.email)
    client = bearer(pair["access"])
    assert client.get("/api/auth/me").status_code == 200
    out = client.post("/api/auth/logout", {"refresh": pair["refresh"]}, format="json")
    assert out.status_code == 204
    assert client.get("/api/auth/me").status_code == 401
    # Another session of the same user is untouched.
    assert bearer(other["access"]).get("/api/auth/me").status_code == 200


def test_access_token_of_a_deactivated_user_is_401(api_client, user):
    from accounts.services import user_deactivate

    pair = jwt_login(api_client, user.email)
    user_deactivate(user=user)
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 401


def test_user_logout_service_revokes_refresh_and_access_together(api_client, user):
    from accounts.services import user_logout

    pair = jwt_login(api_client, user.email)
    user_logout(refresh=pair["refresh"], access=pair["access"])
    assert bearer(pair["access"]).get("/api/auth/me").status_code == 401
    reuse = api_client.post(
        "/api/auth/refresh", {"refresh": pair["refresh"]}, format="json"
    )
    assert reuse.status_code == 401


def test_logout_with_a_bad_refresh_revokes_nothing(api_client, user):
    pair = jwt_login(api_client, user.email)
    client = bearer(pair["access"])
    out = client.post("/api/auth/logout", {"refresh": "nope"}, format="json")
    assert out.status_code == 401
    assert client.get("/api/auth/me").status_code == 200
