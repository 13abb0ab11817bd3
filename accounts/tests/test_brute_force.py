"""Lockout (django-axes, e-mail + IP, cool-off) and per-IP rate limits (429s)."""

from datetime import timedelta

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, email, password, ip="10.0.0.1"):
    return client.post(
        "/api/auth/login",
        {"email": email, "password": password},
        format="json",
        REMOTE_ADDR=ip,
    )


@override_settings(AXES_FAILURE_LIMIT=3, AXES_COOLOFF_TIME=timedelta(minutes=15))
def test_lockout_after_failures_then_recovery_after_cool_off(user, time_machine):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    client = APIClient()
    codes = [_login(client, user.email, "wrong-one").status_code for _ in range(2)]
    assert codes == [401, 401]
    locked = _login(client, user.email.upper(), "wrong-one")
    assert locked.status_code == 429
    body = locked.json()
    assert body["error"]["code"] == "account_locked"
    assert locked["Retry-After"] == str(15 * 60)
    assert body["error"]["details"]["retry_after"] == 15 * 60

    # Even the right password is refused while locked, with the same answer.
    right = _login(client, user.email, DEFAULT_PASSWORD)
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "account_locked"
    # The lockout is keyed on e-mail + IP: another address still gets in.
    assert (
        _login(client, user.email, DEFAULT_PASSWORD, ip="10.0.0.2").status_code == 200
    )

    time_machine.move_to("2026-03-01T10:14:00Z", tick=False)
    assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 429
    time_machine.move_to("2026-03-01T10:29:01Z", tick=False)
    assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200
    # A success resets the counter: two new failures do not lock.
    assert _login(client, user.email, "wrong-one").status_code == 401
    assert _login(client, user.email, "wrong-one").status_code == 401
    assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200


@override_settings(AXES_FAILURE_LIMIT=2)
def test_lockout_also_applies_to_unknown_emails(api_client):
    codes = [
        _login(api_client, "ghost@example.com", "x-wrong").status_code for _ in range(3)
    ]
    assert codes == [401, 429, 429]


@override_settings(AXES_FAILURE_LIMIT=2)
def test_portal_login_lockout_is_429_with_retry_after(user):
    client = APIClient()
    for _ in range(2):
        response = client.post(
            "/login/",
            {"email": user.email, "password": "wrong-one"},
            REMOTE_ADDR="1.2.3.4",
        )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@override_settings(RATELIMIT_LOGIN="3/m")
def test_login_rate_limit_is_429_with_retry_after_per_ip(user, time_machine):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    client = APIClient()
    for _ in range(3):
        assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200
    limited = _login(client, user.email, DEFAULT_PASSWORD)
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    retry_after = int(limited["Retry-After"])
    assert 1 <= retry_after <= 60
    assert limited.json()["error"]["details"]["retry_after"] == retry_after
    # Another IP has its own budget; the window's end is when this one recovers.
    assert (
        _login(client, user.email, DEFAULT_PASSWORD, ip="10.9.9.9").status_code == 200
    )
    time_machine.shift(retry_after)
    assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200


@override_settings(RATELIMIT_REGISTER="2/h")
def test_register_rate_limit_is_429_with_retry_after(api_client):
    codes = []
    for n in range(3):
        response = api_client.post(
            "/api/auth/register",
            {"email": f"r{n}@example.com", "password": "violet-harbour-telescope-42"},
            format="json",
        )
        codes.append(response.status_code)
    assert codes == [201, 201, 429]
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 3600


@override_settings(RATELIMIT_FORGOT_PASSWORD="2/h")
def test_forgot_password_rate_limit_is_429_with_retry_after(api_client):
    codes = [
        api_client.post(
            "/api/auth/forgot-password", {"email": "a@example.com"}, format="json"
        ).status_code
        for _ in range(3)
    ]
    assert codes == [202, 202, 429]
    last = api_client.post(
        "/api/auth/forgot-password", {"email": "a@example.com"}, format="json"
    )
    assert last.json()["error"]["code"] == "rate_limited"
    assert int(last["Retry-After"]) >= 1


@override_settings(RATELIMIT_ENABLE=False, RATELIMIT_LOGIN="1/m")
def test_rate_limits_can_be_switched_off(user):
    client = APIClient()
    for _ in range(3):
        assert _login(client, user.email, DEFAULT_PASSWORD).status_code == 200


@override_settings(AXES_FAILURE_LIMIT=2)
def test_admin_login_lockout_uses_the_same_429_page(user):
    from django.test import Client

    client = Client()
    for _ in range(2):
        response = client.post(
            "/admin/login/",
            {"username": user.email.upper(), "password": "wrong-one"},
            REMOTE_ADDR="5.6.7.8",
        )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many failed log-in attempts" in response.content
    # Same e-mail + IP on the API: locked too (one counter per normalised e-mail).
    api = _login(APIClient(), user.email, DEFAULT_PASSWORD, ip="5.6.7.8")
    assert api.status_code == 429


@pytest.mark.django_db(transaction=True)
async def test_lockout_under_asgi_is_429_account_locked_not_500(user, async_client):
    """AsyncClient runs the ASGI handler, so AxesMiddleware takes its async path."""
    email = user.email

    async def login(password):
        return await async_client.post(
            "/api/auth/login",
            {"email": email, "password": password},
            content_type="application/json",
            REMOTE_ADDR="10.9.9.9",
        )

    codes = [(await login("wrong-one")).status_code for _ in range(10)]
    assert codes[:9] == [401] * 9
    locked = await login("wrong-one")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "account_locked"
    assert int(locked["Retry-After"]) > 0
    # The right password is refused the same way while locked.
    right = await login(DEFAULT_PASSWORD)
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "account_locked"
    assert int(right["Retry-After"]) > 0
