"""The bounds of chat input, defined once for every transport and the engine.

The REST and /v1 serializers, the WebSocket consumer (`parse_chat`) and the chat
engine (`chat_prepare`, for callers with no transport such as tasks) all call these
checks. Each raises `InvalidInput` whose `details.fields` names the field; limits
are settings (`AI_MAX_*`), read on every call. Text must be encodable as UTF-8: a
lone surrogate (`"\\ud800"`, which JSON can carry) is refused here rather than
failing later inside the provider call.
"""

from collections.abc import Iterator
from typing import Any

from django.conf import settings

from flowmatik.errors import InvalidInput

ROLES = ("system", "user", "assistant", "tool")
MESSAGE_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def _invalid(field: str, message: str, problem: str) -> InvalidInput:
    return InvalidInput(message, details={"fields": {field: [problem]}})


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value (iterative: nesting cannot recurse)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unicode_check(value: Any, *, field: str) -> None:
    """Refuse text that is not valid Unicode (lone surrogates), anywhere in `value`."""
    if not all(_is_utf8(text) for text in _strings(value)):
        raise _invalid(
            field,
            f"{field} contains invalid Unicode (a lone surrogate).",
            "Invalid Unicode.",
        )


def content_chars(content: Any) -> int:
    """The characters of a message's content: a string or OpenAI's text parts."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return 0


def message_text_check(text: Any, *, field: str = "message") -> str:
    """One new user message: 1 to AI_MAX_MESSAGE_CHARS characters once stripped."""
    limit = settings.AI_MAX_MESSAGE_CHARS
    if not isinstance(text, str):
        raise _invalid(field, f"{field} must be a string.", "Not a string.")
    text = text.strip()
    if not text or len(text) > limit:
        raise _invalid(
            field, f"{field} must be 1 to {limit} characters.", "Invalid length."
        )
    unicode_check(text, field=field)
    return text


def messages_count_check(messages: Any, *, field: str = "messages") -> None:
    """1 to AI_MAX_MESSAGES items (checked before the items themselves)."""
    count = settings.AI_MAX_MESSAGES
    if not isinstance(messages, list) or not 1 <= len(messages) <= count:
        raise _invalid(
            field, f"{field} must hold 1 to {count} items.", "Invalid length."
        )


def messages_check(messages: Any, *, field: str = "messages") -> list[dict[str, Any]]:
    """A whole message list: 1 to AI_MAX_MESSAGES items, each with a known role and
    at most AI_MAX_MESSAGE_CHARS characters of content. Returns the kept keys."""
    messages_count_check(messages, field=field)
    chars = settings.AI_MAX_MESSAGE_CHARS
    clean = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _invalid(
                field,
                "Each message needs a role: system, user, assistant or tool.",
                f"Item {index}: invalid message.",
            )
        if content_chars(message.get("content")) > chars:
            raise _invalid(
                field,
                f"Each message may hold at most {chars} characters.",
                f"Item {index}: content too long.",
            )
        kept = {k: message[k] for k in MESSAGE_KEYS if message.get(k) is not None}
        kept.setdefault("content", "")
        clean.append(kept)
    unicode_check(clean, field=field)
    return clean


def tools_count_check(tools: Any, *, field: str = "tools") -> None:
    """At most AI_MAX_TOOLS items (checked before the items themselves)."""
    limit = settings.AI_MAX_TOOLS
    if not isinstance(tools, list) or len(tools) > limit:
        raise _invalid(field, f"At most {limit} tools.", "Too many tools.")


def tools_check(tools: Any, *, field: str = "tools") -> list[dict[str, Any]] | None:
    """At most AI_MAX_TOOLS tool definitions (their shape is the serializer's)."""
    if not tools:
        return None
    tools_count_check(tools, field=field)
    unicode_check(tools, field=field)
    return tools


def temperature_check(value: Any, *, field: str = "temperature") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(field, f"{field} must be a number.", "Not a number.")
    if not 0 <= value <= 2:
        raise _invalid(field, f"{field} must be between 0 and 2.", "Out of range.")
    return float(value)


def max_tokens_check(value: Any, *, field: str = "max_tokens") -> int | None:
    if value is None:
        return None
    limit = settings.AI_MAX_OUTPUT_TOKENS
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(field, f"{field} must be an integer.", "Not an integer.")
    if not 1 <= value <= limit:
        raise _invalid(
            field, f"{field} must be between 1 and {limit}.", "Out of range."
        )
    return value
