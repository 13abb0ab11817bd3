"""The client IP comes from one setting, for rate limits, lockouts and AI limits;
behind a trusted proxy, uvicorn's --forwarded-allow-ips supplies it."""

from datetime import timedelta

import httpx
import pytest
from axes.models import AccessAttempt
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from flowmatik.testing import processes
from flowmatik.testing.auth import jwt_for


def _login(client, email, password, **meta):
    return client.post(
        "/api/auth/login",
        {"email": email, "password": password},
        format="json",
        **meta,
    )


@pytest.mark.django_db
@override_settings(CLIENT_IP_META_KEY="HTTP_X_REAL_IP", RATELIMIT_LOGIN="2/m")
def test_login_rate_limit_counts_the_configured_client_ip(user):
    client = APIClient()
    # One proxy address (REMOTE_ADDR) in front of two clients.
    first = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_REAL_IP": "203.0.113.1"}
    second = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_REAL_IP": "203.0.113.2"}
    codes = [_login(client, user.email, DEFAULT_PASSWORD, **first).status_code]
    codes.append(_login(client, user.email, DEFAULT_PASSWORD, **first).status_code)
    codes.append(_login(client, user.email, DEFAULT_PASSWORD, **first).status_code)
    assert codes == [200, 200, 429]
    assert _login(client, user.email, DEFAULT_PASSWORD, **second).status_code == 200


@pytest.mark.django_db
@override_settings(
    CLIENT_IP_META_KEY="HTTP_X_REAL_IP",
    AXES_FAILURE_LIMIT=2,
    AXES_COOLOFF_TIME=timedelta(minutes=15),
)
def test_login_lockout_is_keyed_on_the_configured_client_ip(user):
    client = APIClient()
    first = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_REAL_IP": "203.0.113.7"}
    second = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_REAL_IP": "203.0.113.8"}
    assert _login(client, user.email, "wrong-one", **first).status_code == 401
    assert _login(client, user.email, "wrong-one", **first).status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.7"
    }
    assert _login(client, user.email, DEFAULT_PASSWORD, **second).status_code == 200


@pytest.mark.django_db
@override_settings(CLIENT_IP_META_KEY="HTTP_X_FORWARDED_FOR", RATELIMIT_LOGIN="1/m")
def test_a_forwarded_list_counts_its_last_entry_not_what_the_client_wrote(user):
    client = APIClient()
    spoofed = {"HTTP_X_FORWARDED_FOR": "1.1.1.1, 198.51.100.9"}
    again = {"HTTP_X_FORWARDED_FOR": "2.2.2.2, 198.51.100.9"}
    assert _login(client, user.email, DEFAULT_PASSWORD, **spoofed).status_code == 200
    assert _login(client, user.email, DEFAULT_PASSWORD, **again).status_code == 429


def test_ai_per_ip_limit_counts_the_configured_client_ip(
    live_asgi, catalogue_tx, ai_demo, settings
):
    settings.RATELIMIT_ENABLE = True
    settings.RATELIMIT_AI_PER_IP = "1/m"
    settings.RATELIMIT_AI_PER_USER = "100/m"
    settings.CLIENT_IP_META_KEY = "HTTP_X_REAL_IP"
    users = [UserFactory(), UserFactory(), UserFactory()]

    def chat(user, ip):
        headers = {"Authorization": f"Bearer {jwt_for(user)}", "X-Real-IP": ip}
        return httpx.post(
            f"{live_asgi.http_url}/api/ai/chat",
            json={"message": "hi", "max_tokens": 8},
            headers=headers,
            timeout=10,
        )

    assert chat(users[0], "203.0.113.20").status_code == 200
    refused = chat(users[1], "203.0.113.20")
    assert refused.status_code == 429
    assert refused.json()["error"]["details"]["scope"] == "ip"
    assert chat(users[2], "203.0.113.21").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_uvicorn_supplies_the_client_ip(user, tmp_path):
    """`make run`/`start-prod`'s flags: X-Forwarded-For from a trusted proxy only."""
    env = {
        "RATELIMIT_LOGIN": "1/m",
        # The test settings: their password hasher matches the test user's hash.
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.test",
    }
    args = ("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    with processes.uvicorn_process(workdir=tmp_path, args=args, env=env) as running:

        def login(forwarded: str) -> int:
            return httpx.post(
                f"{running.http_url}/api/auth/login",
                json={"email": user.email, "password": DEFAULT_PASSWORD},
                headers={"X-Forwarded-For": forwarded},
                timeout=30,
            ).status_code

        assert login("203.0.113.30") == 200
        assert login("203.0.113.30") == 429
        assert login("203.0.113.31") == 200  # another client behind the proxy
