"""JSON request bodies: DRF's parser refusing pathological nesting with a 400, and
`parse_body` for the plain async views that do not go through DRF."""

import json
from collections.abc import Callable
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

from flowmatik.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType


class JSONParser(DRFJSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _json_loads(raw: bytes) -> Any:
    """orjson for speed; what it refuses but `json` reads (a lone surrogate, NaN,
    huge integers) is read as before, so clients see the same answers."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def parse_body(
    request: HttpRequest,
    serializer_class,
    *,
    fast: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The validated JSON object body; 415 / 413 / 400 `malformed_request` else.

    `fast(data)`, when given, returns the serializer's `validated_data` for the
    bodies it recognises without building the serializer, and None for the others
    (the serializer then validates, and words every error)."""
    if not _is_json(request.content_type or ""):
        raise UnsupportedMediaType()
    try:
        data = _json_loads(request.body or b"{}")
    except RequestDataTooBig:
        raise PayloadTooLarge() from None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput(
            "The body is not valid JSON.", code="malformed_request"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", code="malformed_request")
    if fast is not None and (validated := fast(data)) is not None:
        return validated
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except serializers.ValidationError as exc:
        raise InvalidInput(details={"fields": exc.detail}) from None
    return serializer.validated_data
