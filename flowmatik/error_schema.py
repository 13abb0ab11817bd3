"""The API's one error envelope in the OpenAPI schema.

`ErrorSerializer` describes what `flowmatik.errors` renders for every error:
``{"error": {"code", "message", "details"}, "request_id"}``. Views may name it in
their `responses`; `error_responses_document` (a drf-spectacular postprocessing
hook) gives it to every other 4xx/5xx response that was documented without a body,
so no endpoint's schema leaves its errors undescribed.
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
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in ("4", "5") and "content" not in response:
                    response["content"] = envelope
    return result
