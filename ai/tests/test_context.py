"""The context manager: prompt order, profile context, trimming at the window edge."""

import pytest

from accounts.services import user_profile_update
from accounts.tests.factories import UserFactory
from ai import context as ctx
from flowmatik.errors import InvalidInput


def _turns(n: int, words: int = 10) -> list[dict]:
    return [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"turn{i} " + "word " * words,
        }
        for i in range(n)
    ]


def test_estimates_work_offline_for_ascii_and_cjk():
    assert ctx.estimate_tokens("") == 0
    assert ctx.estimate_tokens("abcd" * 10) == 10
    assert ctx.estimate_tokens("你好世界") == 4
    assert ctx.message_tokens({"role": "user", "content": "abcd"}) == 1 + 4


def test_messages_come_in_order_system_profile_history_new():
    history = _turns(2)
    built = ctx.context_build(
        system_prompt="SYSTEM",
        profile="PROFILE",
        history=history,
        new_message="NEW",
        context_window=10_000,
        max_tokens=100,
    )
    assert [m["content"] for m in built.messages] == [
        "SYSTEM",
        "PROFILE",
        history[0]["content"],
        history[1]["content"],
        "NEW",
    ]
    assert built.dropped_messages == 0
    assert built.prompt_tokens == sum(ctx.message_tokens(m) for m in built.messages)


def test_history_is_trimmed_oldest_first_exactly_at_the_window_edge():
    history = _turns(6)
    fixed = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "NEW"},
    ]
    per_turn = [ctx.message_tokens(m) for m in history]
    base = sum(ctx.message_tokens(m) for m in fixed)
    max_tokens = 50
    # Room for exactly the newest three turns, to the token.
    window = base + sum(per_turn[-3:]) + max_tokens
    built = ctx.context_build(
        system_prompt="S",
        profile="",
        history=history,
        new_message="NEW",
        context_window=window,
        max_tokens=max_tokens,
    )
    assert built.messages[1:-1] == history[-3:]
    assert built.dropped_messages == 3
    assert built.prompt_tokens + max_tokens == window
    # One token less and the oldest of those three goes too.
    tighter = ctx.context_build(
        system_prompt="S",
        profile="",
        history=history,
        new_message="NEW",
        context_window=window - 1,
        max_tokens=max_tokens,
    )
    assert tighter.messages[1:-1] == history[-2:]


def test_a_message_larger_than_the_window_is_refused():
    with pytest.raises(InvalidInput) as err:
        ctx.context_build(
            system_prompt="S",
            profile="",
            history=[],
            new_message="word " * 400,
            context_window=200,
            max_tokens=100,
        )
    assert err.value.code == "context_too_long"


def test_message_lists_keep_system_and_last_message_when_trimmed():
    messages = [{"role": "system", "content": "rules"}, *_turns(5)]
    last = messages[-1]
    window = (
        ctx.message_tokens(messages[0])
        + ctx.message_tokens(last)
        + ctx.message_tokens(messages[-2])
        + 10
    )
    built = ctx.context_build_from_messages(
        messages=messages, context_window=window, max_tokens=10
    )
    assert built.messages == [messages[0], messages[-2], last]


def test_profile_context_carries_brand_voice_and_is_cached(
    db, django_assert_num_queries
):
    user = UserFactory(
        name="Ana", company="Acme", brand_voice="Warm, witty.", bio="Baker."
    )
    with django_assert_num_queries(1):
        text = ctx.profile_context(user.pk)
        assert ctx.profile_context(user.pk) == text
    assert "Warm, witty." in text
    assert "Acme" in text
    assert "Baker." in text
    # The profile service drops the cached note (a hand-made invalidation here
    # would hide a service that forgets to).
    user_profile_update(user=user, data={"brand_voice": "Formal."})
    assert "Formal." in ctx.profile_context(user.pk)


def test_message_tokens_tolerates_malformed_tool_calls():
    from ai.context import MESSAGE_OVERHEAD_TOKENS, message_tokens

    for calls in ([{"function": "x"}], ["x"], [{"function": None}], [None]):
        message = {"role": "assistant", "content": "abcd", "tool_calls": calls}
        assert message_tokens(message) == 1 + MESSAGE_OVERHEAD_TOKENS
    good = {"function": {"name": "abcd", "arguments": "abcdefgh"}}
    message = {"role": "assistant", "content": "", "tool_calls": [good]}
    assert message_tokens(message) == 3 + MESSAGE_OVERHEAD_TOKENS
