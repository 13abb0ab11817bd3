"""Agents and reasoning through the official `openai` SDK on our /v1 API."""

import openai
import pytest

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import api_key_for
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")

CLIENT_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Find an order.",
        "parameters": {"type": "object", "properties": {"order": {"type": "string"}}},
    },
}


@pytest.fixture
def sdk(live_asgi, transactional_db) -> openai.OpenAI:
    key = api_key_for(UserFactory(), plan="starter")
    return openai.OpenAI(
        base_url=f"{live_asgi.http_url}/v1", api_key=key, max_retries=0, timeout=20
    )


def test_models_list_the_agents_the_plan_reaches(sdk):
    ids = {m.id for m in sdk.models.list()}
    assert {"agent:copywriter", "agent:researcher-es", "flowmatik-demo"} <= ids
    assert "agent:brand-strategist" not in ids  # Pro


def test_agent_alias_runs_the_agents_tool_loop(sdk, demo_server, settle_spy):
    reply = sdk.chat.completions.create(
        model="agent:copywriter",
        messages=[{"role": "user", "content": "Fits on X? [[tools:text_count]]"}],
    )
    assert reply.choices[0].message.content.startswith("Tool said: {")
    assert reply.choices[0].finish_reason == "stop"
    calls = demo_server.chat_calls()
    assert len(calls) == 2
    first = calls[0]["body"]
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][0]["content"].startswith("You are a senior copywriter")
    assert [t["function"]["name"] for t in first["tools"]] == [
        "brand_voice",
        "text_count",
    ]
    assert [e.status for e in settle_spy] == [CallStatus.SUCCESS] * 2
    assert {e.endpoint for e in settle_spy} == {"openai.chat"}
    assert reply.usage.total_tokens == sum(
        e.prompt_tokens + e.completion_tokens for e in settle_spy
    )


def test_agent_alias_with_the_clients_own_tools_streams_standard_tool_calls(
    sdk, demo_server
):
    stream = sdk.chat.completions.create(
        model="agent:copywriter",
        messages=[{"role": "user", "content": "Where is order 42?"}],
        tools=[CLIENT_TOOL],
        stream=True,
    )
    names, finish = [], None
    for chunk in stream:
        if chunk.choices:
            for call in chunk.choices[0].delta.tool_calls or []:
                names.append(call.function.name)
            finish = chunk.choices[0].finish_reason or finish
    assert names == ["lookup_order"]
    assert finish == "tool_calls"
    sent = demo_server.chat_calls()
    assert len(sent) == 1  # the client runs its tools: no server loop
    assert [t["function"]["name"] for t in sent[0]["body"]["tools"]] == ["lookup_order"]
    assert sent[0]["body"]["messages"][0]["content"].startswith("You are a senior")


def test_reasoning_content_is_relayed_as_its_own_deltas(sdk, demo_server):
    stream = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "Think first [[reasoning:on]]"}],
        stream=True,
    )
    thought, answer = [], []
    for chunk in stream:
        if chunk.choices:
            delta = chunk.choices[0].delta
            thought.append(getattr(delta, "reasoning_content", None) or "")
            answer.append(delta.content or "")
    assert "".join(thought).startswith("Thinking: the user asks about Think first")
    assert "Thinking" not in "".join(answer)
    assert "".join(answer)
    whole = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "Think first [[reasoning:on]]"}],
    )
    message = whole.choices[0].message
    assert message.reasoning_content.startswith("Thinking: the user asks about")
    assert "Thinking" not in message.content


def test_agent_above_the_plan_and_unknown_agents_are_refused(sdk, demo_server):
    with pytest.raises(openai.PermissionDeniedError) as above:
        sdk.chat.completions.create(
            model="agent:brand-strategist",
            messages=[{"role": "user", "content": "hi"}],
        )
    assert above.value.code == "plan_feature_required"
    for name in ("agent:nobody", "agent:"):
        with pytest.raises(openai.BadRequestError) as unknown:
            sdk.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "hi"}]
            )
        assert unknown.value.code == "unknown_agent"
    assert demo_server.chat_calls() == []
