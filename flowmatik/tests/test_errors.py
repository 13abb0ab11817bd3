"""The one error envelope: 404, validation, application errors, unhandled exceptions."""

import pytest


def _assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["details"], dict)
    assert body["request_id"] == response["X-Request-ID"]
    return body


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404(client):
    _assert_envelope(client.get("/api/does-not-exist"), 404, "not_found")


@pytest.mark.django_db
@pytest.mark.urls("flowmatik.tests.urls")
def test_validation_error_lists_fields_in_details(client):
    response = client.post(
        "/api/test/echo", {"email": "nope", "count": 0}, content_type="application/json"
    )
    body = _assert_envelope(response, 400, "invalid_input")
    assert set(body["error"]["details"]["fields"]) == {"email", "count"}


@pytest.mark.django_db
@pytest.mark.urls("flowmatik.tests.urls")
def test_malformed_json_is_a_400_not_a_500(client):
    response = client.post(
        "/api/test/echo", "{not json", content_type="application/json"
    )
    _assert_envelope(response, 400, "malformed_request")


@pytest.mark.django_db
@pytest.mark.urls("flowmatik.tests.urls")
def test_application_error_keeps_its_code_and_status(client):
    _assert_envelope(client.get("/api/test/conflict"), 409, "subscription_exists")


@pytest.mark.django_db
@pytest.mark.urls("flowmatik.tests.urls")
@pytest.mark.parametrize("path", ["/api/test/boom", "/api/test/plain-boom"])
def test_unhandled_exception_is_a_json_500_without_traceback(path):
    from django.test import Client

    response = Client(raise_request_exception=False).get(path)
    body = _assert_envelope(response, 500, "internal_error")
    text = response.content.decode()
    assert "Traceback" not in text
    assert "secret internal detail" not in text
    assert "plain view failure" not in text
    assert body["error"]["details"] == {}


@pytest.mark.django_db
def test_wrong_method_on_api_is_a_json_405(client):
    response = client.delete("/api/schema/")
    _assert_envelope(response, 405, "method_not_allowed")
