"""A refused credential answers 401 with a sentence for people and a code for code."""

import base64
import json

import pytest

from accounts.tests.conftest import bearer, jwt_login
from accounts.tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db


def _b64(data: dict) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _assert_sentence_401(response, reason: str) -> dict:
    assert response.status_code == 401, response.content
    error = response.json()["error"]
    message = error["message"]
    # A sentence: no Python repr, starts with a capital, ends with a full stop.
    assert "ErrorDetail" not in message
    assert "{" not in message
    assert message[0].isupper()
    assert message.endswith(".")
    assert error["details"]["reason"] == reason
    return error


def test_garbage_bearer_token_is_a_sentence_with_the_reason_in_details(api_client):
    _assert_sentence_401(
        bearer("garbage").get("/api/auth/me"), reason="token_not_valid"
    )


def test_unsigned_alg_none_token_is_refused_with_a_sentence(user):
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'user_id': user.pk})}."
    _assert_sentence_401(bearer(token).get("/api/auth/me"), reason="token_not_valid")


def test_expired_access_token_is_refused_with_a_sentence(
    api_client, user, time_machine
):
    time_machine.move_to("2026-03-01T10:00:00Z", tick=False)
    pair = jwt_login(api_client, user.email)
    time_machine.shift(16 * 60)
    _assert_sentence_401(
        bearer(pair["access"]).get("/api/auth/me"), reason="token_not_valid"
    )


def test_refresh_token_used_as_access_is_refused_with_a_sentence(api_client, user):
    pair = jwt_login(api_client, user.email)
    _assert_sentence_401(
        bearer(pair["refresh"]).get("/api/auth/me"), reason="token_not_valid"
    )


def test_access_token_after_a_password_change_is_refused_with_a_sentence(
    api_client, user
):
    pair = jwt_login(api_client, user.email)
    user.set_password(DEFAULT_PASSWORD + "-changed")
    user.save()
    _assert_sentence_401(
        bearer(pair["access"]).get("/api/auth/me"), reason="password_changed"
    )


def test_logged_out_access_token_keeps_its_own_reason(api_client, user):
    pair = jwt_login(api_client, user.email)
    client = bearer(pair["access"])
    assert (
        client.post(
            "/api/auth/logout", {"refresh": pair["refresh"]}, format="json"
        ).status_code
        == 204
    )
    _assert_sentence_401(client.get("/api/auth/me"), reason="token_revoked")


def test_unknown_api_key_is_refused_with_a_sentence(api_client):
    _assert_sentence_401(
        bearer("fmk_" + "x" * 40).get("/api/auth/me"), reason="invalid_api_key"
    )
