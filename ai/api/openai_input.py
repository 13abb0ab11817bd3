"""The common `/v1/chat/completions` body read without building DRF serializers.

Building `OpenAIChatInputSerializer` (its fields are deep-copied per instance) and
running it costs more CPU than the rest of the view. Most bodies are plain: a model
name, role + text messages, `stream`, a temperature, a token limit. For those,
`openai_chat_input_fast` returns exactly the serializer's `validated_data`; for
anything else (tools, named messages, strings for numbers, any invalid value) it
returns None and the serializer decides, so every error code and message stays
the serializer's own.
"""

import math
import re
from typing import Any

from ai import bounds
from flowmatik.errors import InvalidInput

_MODEL_MAX_CHARS = 150  # OpenAIChatInputSerializer.model's max_length
# Top-level keys only the serializer reads (their shapes are its business).
_SERIALIZER_KEYS = ("tools", "tool_choice")
_MESSAGE_KEYS = frozenset(("role", "content"))
# DRF's CharField refuses NUL and lone surrogates.
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


def _plain_int(value: Any) -> bool:
    return type(value) is int


def _plain_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and math.isfinite(value)


def openai_chat_input_fast(data: dict[str, Any]) -> dict[str, Any] | None:
    """`OpenAIChatInputSerializer(data=data).validated_data` for a plain body, or
    None when the body is not plain (or not valid): then the serializer runs."""
    if any(key in data for key in _SERIALIZER_KEYS):
        return None
    out: dict[str, Any] = {}
    if "model" in data:
        model = data["model"]
        if type(model) is not str:
            return None
        model = model.strip()
        if len(model) > _MODEL_MAX_CHARS or _FORBIDDEN_CHARS.search(model):
            return None
        out["model"] = model
    messages = data.get("messages")
    if type(messages) is not list:
        return None
    plain = []
    for message in messages:
        if type(message) is not dict or not message.keys() <= _MESSAGE_KEYS:
            return None
        role, content = message.get("role"), message.get("content")
        if type(role) is not str or role not in bounds.ROLES:
            return None
        if content is not None and type(content) is not str:
            return None
        plain.append(dict(message))
    stream = data.get("stream", False)
    if type(stream) is not bool:
        return None
    out["stream"] = stream
    if "stream_options" in data:
        options = data["stream_options"]
        if type(options) is not dict or not options.keys() <= {"include_usage"}:
            return None
        include_usage = options.get("include_usage", False)
        if type(include_usage) is not bool:
            return None
        out["stream_options"] = {"include_usage": include_usage}
    try:
        out["messages"] = bounds.messages_check(plain)
        if "temperature" in data:
            temperature = data["temperature"]
            if temperature is not None and not _plain_number(temperature):
                return None
            out["temperature"] = bounds.temperature_check(temperature)
        for name in ("max_tokens", "max_completion_tokens"):
            if name in data:
                limit = data[name]
                if limit is not None and not _plain_int(limit):
                    return None
                out[name] = bounds.max_tokens_check(limit, field=name)
    except InvalidInput:
        return None  # the serializer words the error
    return out
