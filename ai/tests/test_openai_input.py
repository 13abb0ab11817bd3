"""The /v1 chat body's fast reader agrees with `OpenAIChatInputSerializer`."""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ai.api.openai_input import openai_chat_input_fast
from ai.api.serializers import OpenAIChatInputSerializer


def _serializer(data: dict) -> dict | None:
    serializer = OpenAIChatInputSerializer(data=data)
    return dict(serializer.validated_data) if serializer.is_valid() else None


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "true", "1", "0.5", "gpt-4o ", "\x00", "\ud800"]),
    st.text(max_size=8),
)
_message = st.dictionaries(
    st.sampled_from(["role", "content", "name", "tool_call_id", "extra"]),
    st.one_of(
        st.sampled_from(["system", "user", "assistant", "tool", "bot", " user"]),
        _scalars,
        st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text()})),
    ),
)
_keys = st.dictionaries(
    st.sampled_from(
        [
            "model",
            "messages",
            "stream",
            "stream_options",
            "temperature",
            "max_tokens",
            "max_completion_tokens",
            "user",
            "top_p",
        ]
    ),
    st.one_of(
        _scalars,
        st.lists(_message, max_size=4),
        st.dictionaries(st.sampled_from(["include_usage", "x"]), _scalars),
        st.text(min_size=140, max_size=160),
    ),
)
_plain_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"])},
    optional={"content": st.one_of(st.none(), st.text(max_size=12))},
)
# Mostly well-formed messages with random other keys, and wholly random bodies
_body = st.one_of(
    st.builds(
        lambda messages, rest: {"messages": messages, **rest},
        st.lists(_plain_message, min_size=1, max_size=3),
        _keys,
    ),
    _keys,
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(body=_body)
def test_a_body_read_fast_reads_as_the_serializer_reads_it(body):
    fast = openai_chat_input_fast(body)
    event("fast path" if fast is not None else "serializer")
    if fast is not None:
        assert fast == _serializer(body)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "flowmatik-demo", "messages": [{"role": "user", "content": "hi"}]},
        {
            "model": "  flowmatik-demo ",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None},
                {"role": "user"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 1,
            "max_tokens": 16,
            "max_completion_tokens": None,
            "user": "someone",
        },
        {"messages": [{"role": "user", "content": "x"}], "stream_options": {}},
    ],
)
def test_plain_bodies_take_the_fast_path_with_the_serializers_result(body):
    fast = openai_chat_input_fast(body)
    assert fast is not None
    assert fast == _serializer(body)


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "x"}], "tools": []},
        {"messages": [{"role": "user", "content": "x", "name": "a"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]},
        {"messages": [{"role": "user", "content": "x"}], "stream": "true"},
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": 16.0},
        {"messages": [{"role": "user", "content": "x"}], "temperature": "0.5"},
        {"messages": [{"role": "user", "content": "x"}], "temperature": 3},
        {"messages": []},
        {"messages": [{"role": "user", "content": "\ud800"}]},
        {"model": None, "messages": [{"role": "user", "content": "x"}]},
    ],
)
def test_other_bodies_are_left_to_the_serializer(body):
    assert openai_chat_input_fast(body) is None
