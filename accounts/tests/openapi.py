"""Check real API responses against the OpenAPI document served at `/api/schema/`."""

from typing import Any
from urllib.parse import urlparse

from jsonschema import Draft4Validator, FormatChecker

_formats = FormatChecker(formats=())


@_formats.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = urlparse(value)
    return bool(parsed.scheme and parsed.netloc)


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` as JSON Schema (`anyOf [..., null]`)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def schema_document(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def declared_statuses(document: dict, path: str, method: str) -> set[int]:
    return {int(code) for code in document["paths"][path][method]["responses"]}


def response_errors(
    document: dict, path: str, method: str, status: int, body: Any
) -> list[str]:
    """Every way `body` breaks the documented response schema (empty: it conforms)."""
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    root = {**_json_schema(schema), "components": _json_schema(document["components"])}
    validator = Draft4Validator(root, format_checker=_formats)
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(body)
    ]
