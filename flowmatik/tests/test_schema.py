"""The OpenAPI schema is served, valid OpenAPI 3, and browsable."""

import pytest
from drf_spectacular.validation import validate_schema


@pytest.mark.django_db
def test_schema_endpoint_returns_a_valid_openapi_document(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Flowmatik API"
    validate_schema(schema)


@pytest.mark.django_db
def test_swagger_ui_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.django_db
def test_every_error_response_of_every_endpoint_has_a_documented_body(client):
    """The one envelope unless an endpoint documents its own (the OpenAI-shaped
    /v1 errors)."""
    schema = client.get("/api/schema/?format=json").json()
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {
        "error",
        "request_id",
    }
    errors = 0
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] not in "45":
                    continue
                errors += 1
                body = response["content"]["application/json"]["schema"]
                ref = body.get("$ref", "")
                assert ref.endswith(("/Error", "/OpenAIError")), (path, method, status)
    assert errors > 50  # every app's errors were looked at


@pytest.mark.django_db
def test_errors_every_operation_can_answer_are_documented(client):
    """Found by the schema fuzzing: `?page=0` answers 400 and an unauthenticated
    call 401 on lists whose views named neither."""
    schema = client.get("/api/schema/?format=json").json()
    listing = schema["paths"]["/api/notifications"]["get"]["responses"]
    mark_read = schema["paths"]["/api/notifications/read"]["post"]["responses"]
    agents = schema["paths"]["/api/ai/agents"]["get"]["responses"]
    assert {"400", "401", "404"} <= set(listing)
    assert {"400", "401"} <= set(mark_read)
    assert "400" in agents
    assert listing["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    login = schema["paths"]["/api/auth/login"]["post"]["responses"]
    assert "401" not in login or "description" in login["401"]
