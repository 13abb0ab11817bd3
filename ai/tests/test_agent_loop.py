"""The agent loop over real HTTP and WebSockets, against the demo model and a real
MCP server: tools run in the caller's name, every model call is metered, tool
failures are fed back, the step limit holds, cancel stops at once."""

import json

import httpx
import pytest

from accounts.tests.factories import UserFactory
from ai.models import Agent, Conversation, McpServer, Message
from ai.services.agents import mcp_server_save
from billing.selectors import plan_cache_invalidate
from billing.tests.factories import subscription_row
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.mcp_server import TOKEN
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture(autouse=True)
def _loopback_mcp_allowed(settings):
    """The test MCP server listens on 127.0.0.1, which users' servers may not use
    unless this is set (see the test of the refusal)."""
    settings.AI_MCP_ALLOW_PRIVATE_URLS = True


def _on_plan(user, plan: str):
    subscription_row(user=user, plan=plan)
    plan_cache_invalidate(user_id=user.pk)
    return user


@pytest.fixture
def user(transactional_db):
    return UserFactory(brand_voice="Warm and witty.")


def _client(live_asgi, user) -> httpx.Client:
    return httpx.Client(
        base_url=live_asgi.http_url,
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=20,
    )


def _sse(response) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def _chat_sse(live_asgi, user, **body) -> list[tuple[str, dict]]:
    with (
        _client(live_asgi, user) as http,
        http.stream("POST", "/api/ai/chat", json={"stream": True, **body}) as response,
    ):
        assert response.status_code == 200, response.read()
        return _sse(response)


def _own_agent(user, slug: str, tools: list[str]) -> Agent:
    return Agent.objects.create(
        owner=user,
        owner_scope=user.pk,
        slug=slug,
        name=slug,
        system_prompt=f"You are {slug}.",
        tools=tools,
    )


def _own_mcp(user, url: str) -> McpServer:
    return mcp_server_save(
        server=McpServer(owner=user, slug="acme", name="Acme", url=url),
        auth_header=TOKEN,
    )


def test_agent_calls_a_builtin_tool_then_answers_each_call_metered(
    live_asgi, user, demo_server, settle_spy
):
    events = _chat_sse(
        live_asgi,
        user,
        agent="copywriter",
        message="Is this short enough for X? [[tools:text_count]]",
    )
    kinds = [name for name, _ in events]
    assert kinds[0] == "start"
    assert kinds[-2:] == ["usage", "done"]
    call = next(data for name, data in events if name == "tool_call")
    result = next(data for name, data in events if name == "tool_result")
    assert call["name"] == "text_count"
    assert call["step"] == 1
    assert result["id"] == call["id"]
    assert result["is_error"] is False
    counted = json.loads(result["content"])
    assert counted["network"] == "bluesky"  # the demo picks the enum's first value
    answer = "".join(d["content"] for name, d in events if name == "delta")
    assert answer.startswith("Tool said: {")

    calls = demo_server.chat_calls()
    assert len(calls) == 2
    assert calls[0]["body"]["messages"][0]["content"].startswith("You are a senior")
    assert {t["function"]["name"] for t in calls[0]["body"]["tools"]} == {
        "brand_voice",
        "text_count",
    }
    fed_back = calls[1]["body"]["messages"][-1]
    assert fed_back == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": result["content"],
    }
    # Each model call admitted and settled on its own; the usage event sums them.
    assert [e.status for e in settle_spy] == [CallStatus.SUCCESS] * 2
    usage = dict(events)["usage"]
    assert usage["prompt_tokens"] == sum(e.prompt_tokens for e in settle_spy)
    assert usage["completion_tokens"] == sum(e.completion_tokens for e in settle_spy)

    done = dict(events)["done"]
    conversation = Conversation.objects.get(pk=done["conversation_id"])
    assert conversation.agent == "copywriter"
    stored = list(conversation.messages.order_by("id"))
    assert [m.role for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert stored[1].tool_calls[0]["function"]["name"] == "text_count"
    assert stored[2].tool_call_id == call["id"]
    assert stored[3].pk == done["message_id"]
    assert stored[3].content == answer
    assert conversation.message_count == 4


def test_agent_calls_a_tool_of_an_mcp_server_with_the_stored_auth_header(
    live_asgi, user, demo_server, mcp_record, settle_spy
):
    _on_plan(user, "business")
    _own_mcp(user, mcp_record.url)
    _own_agent(user, "shouter", ["mcp:acme"])
    events = _chat_sse(
        live_asgi, user, agent="shouter", message="make it loud [[tools:acme__shout]]"
    )
    result = next(data for name, data in events if name == "tool_result")
    assert result["name"] == "acme__shout"
    assert result["is_error"] is False
    assert result["content"] == json.dumps({"result": "MAKE IT LOUD!"})
    assert mcp_record.calls == [("shout", {"text": "make it loud"})]
    assert dict(events)["done"]["finish_reason"] == "stop"
    assert len(settle_spy) == 2


def test_the_loop_stops_at_the_step_limit_with_an_answer(
    live_asgi, user, demo_server, settle_spy, settings
):
    settings.AI_AGENT_MAX_STEPS = 3
    events = _chat_sse(
        live_asgi, user, agent="copywriter", message="loop forever [[tools:always]]"
    )
    calls = demo_server.chat_calls()
    assert len(calls) == 3
    assert [c["body"].get("tool_choice") for c in calls] == ["auto", "auto", "none"]
    assert [d["step"] for name, d in events if name == "tool_call"] == [1, 2]
    assert len(settle_spy) == 3
    assert dict(events)["done"]["finish_reason"] == "stop"
    assert "".join(d["content"] for n, d in events if n == "delta")


def test_tool_error_and_timeout_are_fed_back_not_a_500(
    live_asgi, user, demo_server, mcp_record, settings
):
    settings.AI_TOOL_TIMEOUT_SECONDS = 0.5
    _on_plan(user, "business")
    _own_mcp(user, mcp_record.url)
    _own_agent(user, "fragile", ["mcp:acme"])
    events = _chat_sse(
        live_asgi,
        user,
        agent="fragile",
        message="try [[tools:acme__explode,acme__slow]]",
    )
    results = [d for name, d in events if name == "tool_result"]
    assert [r["name"] for r in results] == ["acme__explode", "acme__slow"]
    assert all(r["is_error"] for r in results)
    assert "Error executing tool explode" in results[0]["content"]
    assert "did not answer" in results[1]["content"]
    fed = [
        m
        for m in demo_server.chat_calls()[-1]["body"]["messages"]
        if m["role"] == "tool"
    ]
    assert [m["content"] for m in fed] == [r["content"] for r in results]
    assert [name for name, _ in events][-1] == "done"


def test_reasoning_is_relayed_apart_and_stored_with_the_answer(
    live_asgi, user, demo_server
):
    events = _chat_sse(live_asgi, user, message="Why? [[reasoning:on]]")
    thought = "".join(d["content"] for n, d in events if n == "reasoning")
    answer = "".join(d["content"] for n, d in events if n == "delta")
    assert thought.startswith("Thinking: the user asks about Why?")
    assert "Thinking" not in answer
    message = Message.objects.get(pk=dict(events)["done"]["message_id"])
    assert message.reasoning == thought
    assert message.content == answer


def test_agents_above_the_plan_or_unknown_are_refused_before_any_call(
    live_asgi, user, demo_server
):
    with _client(live_asgi, user) as http:
        above = http.post(
            "/api/ai/chat", json={"agent": "brand-strategist", "message": "hi"}
        )
        unknown = http.post("/api/ai/chat", json={"agent": "nobody", "message": "hi"})
    assert above.status_code == 403
    assert above.json()["error"]["code"] == "plan_feature_required"
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "unknown_agent"
    assert demo_server.chat_calls() == []


def test_json_chat_with_an_agent_runs_the_same_loop(live_asgi, user, demo_server):
    with _client(live_asgi, user) as http:
        response = http.post(
            "/api/ai/chat",
            json={"agent": "copywriter-es", "message": "¿Cabe? [[tools:text_count]]"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reply"].startswith("Tool said: {")
    assert body["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] > 0
    assert len(demo_server.chat_calls()) == 2
    roles = Message.objects.filter(conversation_id=body["conversation_id"]).values_list(
        "role", flat=True
    )
    assert list(roles) == ["user", "assistant", "tool", "assistant"]


def test_agent_starts_a_content_job_and_reads_its_result_in_the_users_name(
    live_asgi, user, demo_server, eager_celery
):
    from asgiref.sync import async_to_sync

    from ai.models import ContentJob
    from ai.tools.builtin import BUILTIN_TOOLS
    from ai.tools.registry import ToolSet, tool_run

    events = _chat_sse(
        live_asgi,
        user,
        agent="social-media-manager",
        message="A launch post [[tools:content_job_start]]",
    )
    result = next(data for name, data in events if name == "tool_result")
    assert result["is_error"] is False, result
    started = json.loads(result["content"])
    job = ContentJob.objects.get(pk=started["job_id"])
    assert job.user_id == user.pk
    assert job.type == "blog_post"  # the demo picks the enum's first value

    tools = ToolSet({"content_job_result": _spec(BUILTIN_TOOLS, "content_job_result")})
    read = async_to_sync(tool_run)(
        toolset=tools,
        user_id=user.pk,
        name="content_job_result",
        arguments=json.dumps({"job_id": job.pk}),
    )
    body = json.loads(read.text)
    assert body["status"] == "succeeded"
    assert body["result_text"]
    stranger = UserFactory()
    denied = async_to_sync(tool_run)(
        toolset=tools,
        user_id=stranger.pk,
        name="content_job_result",
        arguments=json.dumps({"job_id": job.pk}),
    )
    assert denied.is_error
    assert body["result_text"] not in denied.text


def _spec(tools, name):
    from ai.tools.registry import ToolSpec

    tool = tools[name]
    return ToolSpec(tool.name, tool.description, tool.parameters, "builtin")


def test_tool_results_are_cut_at_the_size_limit(live_asgi, user, demo_server, settings):
    settings.AI_TOOL_RESULT_MAX_CHARS = 40
    events = _chat_sse(
        live_asgi, user, agent="copywriter", message="[[tools:brand_voice]] hello"
    )
    result = next(data for name, data in events if name == "tool_result")
    assert result["content"].endswith("[result cut at 40 characters]")
    assert len(result["content"]) == 40 + len("\n[result cut at 40 characters]")


def test_quota_running_out_mid_loop_ends_with_its_error(
    live_asgi, user, demo_server, settle_spy
):
    from usage.models import QuotaOverride

    QuotaOverride.objects.create(user=user, requests_per_day=1)
    events = _chat_sse(
        live_asgi, user, agent="copywriter", message="[[tools:text_count]] count"
    )
    kinds = [name for name, _ in events]
    assert "tool_result" in kinds
    assert kinds[-1] == "error"
    assert events[-1][1]["code"] == "quota_exceeded"
    assert len(demo_server.chat_calls()) == 1
    assert len(settle_spy) == 1
    stored = Message.objects.filter(conversation__user=user).values_list(
        "role", flat=True
    )
    assert list(stored) == ["user", "assistant", "tool"]


def test_parallel_calls_past_the_per_step_limit_get_an_error_result(
    live_asgi, user, demo_server, settings
):
    settings.AI_AGENT_MAX_TOOL_CALLS = 1
    events = _chat_sse(
        live_asgi,
        user,
        agent="copywriter",
        message="both at once [[tools:text_count+brand_voice]]",
    )
    calls = [d for name, d in events if name == "tool_call"]
    results = [d for name, d in events if name == "tool_result"]
    assert [c["name"] for c in calls] == ["text_count", "brand_voice"]
    assert [r["is_error"] for r in results] == [False, True]
    assert "too many tool calls" in results[1]["content"]
    fed = [
        m
        for m in demo_server.chat_calls()[1]["body"]["messages"]
        if m["role"] == "tool"
    ]
    assert [m["tool_call_id"] for m in fed] == [c["id"] for c in calls]
    assert [name for name, _ in events][-1] == "done"
