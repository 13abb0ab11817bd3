"""The API's one error envelope in the OpenAPI schema.

`ErrorSerializer` describes what `flowmatik.errors` renders for every error:
``{"error": {"code", "message", "details"}, "request_id"}``. Views may name it in
their `responses`; `error_responses_document` (a drf-spectacular postprocessing
hook) gives it to every other 4xx/5xx response that was documented without a body,
so no endpoint's schema leaves its errors undescribed. It also documents the errors
every operation of a kind can answer although its view does not name them: 400
`invalid_input` where it takes query parameters or a body, 401 where it needs
credentials, 404 where a path parameter names a row or a page may be past the end.
"""

from rest_framework import serializers

ERROR_COMPONENT = "Error"


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code.")
    message = serializers.CharField(help_text="A sentence for people.")
    details = serializers.DictField(help_text="Code-specific data, e.g. `fields`.")


class ErrorSerializer(serializers.Serializer):
    """The one error envelope of the API."""

    error = ErrorBodySerializer()
    request_id = serializers.CharField()


def error_responses_document(result: dict, generator, request, public) -> dict:
    """Every 4xx/5xx response without a body gets the error envelope (the
    component exists because views name `ErrorSerializer`)."""
    if ERROR_COMPONENT not in result.get("components", {}).get("schemas", {}):
        return result
    envelope = {
        "application/json": {
            "schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
        }
    }
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            _implied_errors_add(operation)
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in ("4", "5") and "content" not in response:
                    response["content"] = envelope
    return result


_IMPLIED = {
    "400": "Invalid input (`invalid_input`, `details.fields` per field).",
    "401": "Missing or invalid credentials.",
    "404": "Not found (or not the caller's).",
}


def _implied_errors_add(operation: dict) -> None:
    responses = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    places = {parameter.get("in") for parameter in parameters}
    names = {parameter.get("name") for parameter in parameters}
    implied = set()
    if "query" in places or "requestBody" in operation:
        implied.add("400")
    security = operation.get("security")
    if security and {} not in security:
        implied.add("401")
    if "path" in places or "page" in names:
        implied.add("404")
    for status in implied - set(map(str, responses)):
        responses[status] = {"description": _IMPLIED[status]}
