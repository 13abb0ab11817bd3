"""The demo model speaks OpenAI tool calling and reasoning_content deterministically."""

import openai
import pytest

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": name,
            "parameters": {
                "type": "object",
                "properties": {"text": {"type": "string"}, "network": {"enum": ["x"]}},
            },
        },
    }
    for name in ("alpha", "beta", "gamma")
]


@pytest.fixture
def sdk(demo_server):
    return openai.OpenAI(base_url=demo_server.base_url, api_key="k", max_retries=0)


def test_planned_tool_steps_then_an_answer_quoting_the_result(sdk):
    messages = [{"role": "user", "content": "Plan it [[tools:beta,alpha+gamma]]"}]
    first = sdk.chat.completions.create(
        model="flowmatik-demo", messages=messages, tools=TOOLS
    )
    calls = first.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["beta"]
    assert first.choices[0].finish_reason == "tool_calls"
    assert '"network": "x"' in calls[0].function.arguments  # enums take a valid value
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "beta-result"},
    ]
    second = sdk.chat.completions.create(
        model="flowmatik-demo", messages=messages, tools=TOOLS, stream=True
    )
    names = {}
    for chunk in second:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if call.function.name:
                names[call.index] = call.function.name
    assert names == {0: "alpha", 1: "gamma"}
    messages += [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": f"c{i}",
                    "type": "function",
                    "function": {"name": n, "arguments": "{}"},
                }
                for i, n in names.items()
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "content": "alpha-result"},
        {"role": "tool", "tool_call_id": "c1", "content": "gamma-result"},
    ]
    last = sdk.chat.completions.create(
        model="flowmatik-demo", messages=messages, tools=TOOLS
    )
    assert last.choices[0].message.tool_calls is None
    assert last.choices[0].message.content.startswith("Tool said: gamma-result.")


def test_always_keeps_calling(sdk):
    messages = [
        {"role": "user", "content": "Loop [[tools:always]]"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "alpha", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": "again"},
    ]
    reply = sdk.chat.completions.create(
        model="flowmatik-demo", messages=messages, tools=TOOLS
    )
    assert reply.choices[0].message.tool_calls[0].function.name == "alpha"


def test_reasoning_content_is_sent_apart_from_the_answer(sdk):
    stream = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "Why is the sky blue [[reasoning:on]]"}],
        stream=True,
    )
    thought, answer = [], []
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            thought.append(getattr(delta, "reasoning_content", None) or "")
            answer.append(delta.content or "")
    assert "".join(thought).startswith("Thinking: the user asks about Why is the sky")
    assert "Thinking" not in "".join(answer)
    assert "Local demo model" in "".join(answer)
