"""Bad input never becomes a 500, also through the async (ASGI) stack."""

import json

import pytest

from accounts.tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "path", ["/health", "/nonexistent-page", "/api/does-not-exist", "/v1/models"]
)
async def test_a_portal_session_cookie_never_breaks_async_paths(async_client, path):
    user = await UserFactory._meta.model.objects.acreate(email="s@example.com")
    await async_client.aforce_login(user)
    response = await async_client.get(path)
    assert response.status_code < 500
    assert response["X-Request-ID"]


@pytest.mark.django_db(transaction=True)
async def test_an_unknown_session_cookie_never_breaks_async_paths(async_client):
    async_client.cookies["sessionid"] = "abcdefghijklmnopqrstuvwxyz012345"
    for path in ("/health", "/nonexistent-page", "/v1/models"):
        assert (await async_client.get(path)).status_code < 500


@pytest.mark.django_db
def test_deeply_nested_json_is_a_400(client):
    body = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/auth/login", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_a_413(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"email": "a@example.com", "password": "x" * 4096})
    response = client.post("/api/auth/login", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.django_db
def test_wrong_content_type_is_a_415(client):
    response = client.post("/api/auth/login", "email=a", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [("page=abc", "page"), ("page=0", "page"), ("page_size=-1", "page_size")],
)
def test_invalid_pagination_parameters_are_a_400(auth_client, query, field):
    response = auth_client.get(f"/api/ai/conversations?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


@pytest.mark.django_db
def test_page_size_is_capped(auth_client, settings):
    settings.API_MAX_PAGE_SIZE = 5
    response = auth_client.get("/api/ai/conversations?page_size=500")
    assert response.status_code == 200
