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
