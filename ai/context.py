"""The context manager: builds the message list of every AI call, in one place.

Order: the agent's system prompt (agents are data: `ai.models.Agent`), the
user's profile context (brand voice, bio; cached), the conversation history trimmed
to the model's context window minus `max_tokens` (oldest turns dropped first), and
the new message. Token counts are offline estimates (no tokenizer download).
"""

import math
from dataclasses import dataclass
from typing import Any

from flowmatik.errors import InvalidInput
from flowmatik.versioned_cache import versioned_get, versioned_invalidate, versioned_set

DEFAULT_SYSTEM_PROMPT = (
    "You are Flowmatik's writing assistant. Help the user plan, draft and improve "
    "content. Be concise and concrete."
)
PROFILE_CACHE_SECONDS = 300
MESSAGE_OVERHEAD_TOKENS = 4  # role and separators, as OpenAI-style chat formats add


def estimate_tokens(text: str) -> int:
    """Offline token estimate: ~4 ASCII characters per token, one per CJK character.

    BPE tokenizers of the models we serve (DeepSeek, Qwen, Doubao) land close to
    these ratios; the estimate is deliberately a little high so trimming stays safe.
    """
    if not text:
        return 0
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict)
        )
    return "" if content is None else str(content)


def message_tokens(message: dict[str, Any]) -> int:
    extra = 0
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):  # the API validates; stay total anyway
            continue
        extra += estimate_tokens(str(function.get("name", "")))
        extra += estimate_tokens(str(function.get("arguments", "")))
    return (
        estimate_tokens(_content_text(message.get("content")))
        + extra
        + MESSAGE_OVERHEAD_TOKENS
    )


def profile_cache_key(user_id: int) -> str:
    return f"ai:profile:{user_id}"


def profile_context_cached(user_id: int) -> str | None:
    """The cached `profile_context` answer, or None on a miss (no query)."""
    lookup = versioned_get(profile_cache_key(user_id))
    return lookup.value if lookup.hit else None


def profile_context(user_id: int) -> str:
    """The user's brand voice and bio as a system note ('' if none); cached."""
    lookup = versioned_get(profile_cache_key(user_id))
    if lookup.hit:
        return lookup.value
    from accounts.models import User

    row = (
        User.objects.filter(pk=user_id)
        .values("name", "company", "brand_voice", "bio")
        .first()
        or {}
    )
    parts = []
    if row.get("name") or row.get("company"):
        who = row.get("name") or "The user"
        parts.append(
            f"{who} writes for {row['company']}." if row.get("company") else f"{who}."
        )
    if row.get("brand_voice"):
        parts.append(f"Brand voice: {row['brand_voice'].strip()}")
    if row.get("bio"):
        parts.append(f"About the user: {row['bio'].strip()}")
    text = ("User profile. " + " ".join(parts)) if parts else ""
    versioned_set(lookup, text, PROFILE_CACHE_SECONDS)
    return text


def profile_context_invalidate(*, user_id: int) -> None:
    """Call after the user edits their profile so the next call sees it."""
    versioned_invalidate(profile_cache_key(user_id))


@dataclass(frozen=True)
class BuiltContext:
    messages: list[dict[str, Any]]
    prompt_tokens: int
    dropped_messages: int


def _too_long(budget: int, needed: int) -> InvalidInput:
    return InvalidInput(
        "The message does not fit in the model's context window.",
        code="context_too_long",
        details={"budget_tokens": budget, "needed_tokens": needed},
    )


def context_build(
    *,
    system_prompt: str,
    profile: str,
    history: list[dict[str, Any]],
    new_message: str,
    context_window: int,
    max_tokens: int,
    summary: str = "",
) -> BuiltContext:
    """System + profile + the newest history that fits + the new message.

    `summary` (of turns older than `history`, made in the background when
    AI_SUMMARY_MODEL is set) goes before the history when it still fits.
    """
    budget = context_window - max_tokens
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    if profile:
        head.append({"role": "system", "content": profile})
    tail = [{"role": "user", "content": new_message}]
    used = sum(message_tokens(m) for m in head + tail)
    if used > budget:
        raise _too_long(budget, used)
    kept: list[dict[str, Any]] = []
    for message in reversed(history):
        cost = message_tokens(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    if summary:
        note = {
            "role": "system",
            "content": f"Summary of the earlier conversation: {summary}",
        }
        if used + message_tokens(note) <= budget:
            head.append(note)
            used += message_tokens(note)
    return BuiltContext(head + kept + tail, used, len(history) - len(kept))


def context_build_from_messages(
    *, messages: list[dict[str, Any]], context_window: int, max_tokens: int
) -> BuiltContext:
    """For callers that send the whole list (OpenAI-compatible API): keep the
    leading system messages and the last message, drop the oldest others to fit."""
    budget = context_window - max_tokens
    lead = 0
    while lead < len(messages) - 1 and messages[lead].get("role") == "system":
        lead += 1
    head, middle, last = messages[:lead], messages[lead:-1], messages[-1:]
    used = sum(message_tokens(m) for m in head + last)
    if used > budget:
        raise _too_long(budget, used)
    kept: list[dict[str, Any]] = []
    for message in reversed(middle):
        cost = message_tokens(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    # Never start the kept history with a tool result whose call was dropped.
    while kept and kept[0].get("role") == "tool":
        used -= message_tokens(kept.pop(0))
    return BuiltContext(head + kept + last, used, len(middle) - len(kept))
