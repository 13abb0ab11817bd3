"""Agents on `/ws/chat/`: tool events, cancel mid-loop, plan gates; and no tool
ever reaches another user's data."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from accounts.tests.factories import UserFactory
from ai.models import Agent, Conversation, McpServer, Message
from ai.services.agents import mcp_server_save
from ai.tools.registry import ToolSet, tool_run, toolset_for_agent
from billing.selectors import plan_cache_invalidate, plan_info_for_user_id
from billing.tests.factories import subscription_row
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.mcp_server import TOKEN
from flowmatik.testing.websockets import communicator
from usage.types import CallStatus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("catalogue_tx"),
]


@pytest.fixture(autouse=True)
def _loopback_mcp_allowed(settings):
    """The test MCP server listens on 127.0.0.1, which users' servers may not use
    unless this is set (see the test of the refusal)."""
    settings.AI_MCP_ALLOW_PRIVATE_URLS = True


def _on_plan(user, plan: str):
    subscription_row(user=user, plan=plan)
    plan_cache_invalidate(user_id=user.pk)
    return user


async def _socket(user):
    comm = communicator("/ws/chat/", token=jwt_for(user))
    assert (await comm.connect())[0] is True
    return comm


async def _frames_until(comm, kinds: set[str], timeout: float = 10) -> list[dict]:
    frames = []
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] in kinds:
            return frames


def _slow_agent(url: str) -> tuple:
    user = _on_plan(UserFactory(), "business")
    mcp_server_save(
        server=McpServer(owner=user, slug="acme", name="Acme", url=url),
        auth_header=TOKEN,
    )
    Agent.objects.create(
        owner=user,
        owner_scope=user.pk,
        slug="waiter",
        name="Waiter",
        system_prompt="You wait.",
        tools=["mcp:acme"],
    )
    return user


async def test_tool_call_and_result_frames_then_the_answer(user, demo_server):
    comm = await _socket(user)
    await comm.send_json_to(
        {
            "type": "chat",
            "agent": "editor",
            "message": "Check my voice [[tools:brand_voice]]",
            "request_id": "r-agent",
        }
    )
    frames = await _frames_until(comm, {"done", "error"})
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "start"
    assert kinds.index("tool_call") < kinds.index("tool_result") < kinds.index("delta")
    assert kinds[-2:] == ["usage", "done"]
    call = next(f for f in frames if f["type"] == "tool_call")
    result = next(f for f in frames if f["type"] == "tool_result")
    assert call == {
        "type": "tool_call",
        "id": call["id"],
        "name": "brand_voice",
        "arguments": "{}",
        "step": 1,
    }
    assert result["is_error"] is False
    assert "profile" in json.loads(result["content"])
    await comm.disconnect()


async def test_cancel_mid_loop_stops_at_once_and_settles(
    demo_server, mcp_record, settle_spy, settings
):
    settings.AI_TOOL_TIMEOUT_SECONDS = 10
    owner = await sync_to_async(_slow_agent)(mcp_record.url)
    comm = await _socket(owner)
    await comm.send_json_to(
        {
            "type": "chat",
            "agent": "waiter",
            "message": "wait for it [[tools:acme__slow]]",
            "request_id": "r-cancel",
        }
    )
    frames = await _frames_until(comm, {"tool_call", "error"})
    assert frames[-1]["name"] == "acme__slow"
    started = asyncio.get_running_loop().time()
    await comm.send_json_to({"type": "cancel"})
    frames = await _frames_until(comm, {"cancelled"}, timeout=5)
    assert asyncio.get_running_loop().time() - started < 2  # the 3 s tool was cut
    assert "tool_result" not in [f["type"] for f in frames]
    assert await comm.receive_nothing(timeout=0.3)
    assert len(demo_server.chat_calls()) == 1  # no second step
    assert [e.status for e in settle_spy] == [CallStatus.SUCCESS]  # step 1 settled

    def stored():
        conversation = Conversation.objects.get(user=owner)
        return list(conversation.messages.order_by("id").values_list("role", "status"))

    assert await sync_to_async(stored)() == [
        ("user", "complete"),
        ("assistant", "complete"),  # the call that asked for the tool
    ]
    await comm.disconnect()


async def test_plan_gates_on_agents_are_error_frames(user, demo_server):
    comm = await _socket(user)
    await comm.send_json_to({"type": "chat", "agent": "researcher", "message": "hi"})
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "error"
    assert frame["code"] == "plan_feature_required"
    await comm.send_json_to({"type": "chat", "agent": "ghost", "message": "hi"})
    assert (await comm.receive_json_from(timeout=5))["code"] == "unknown_agent"
    assert demo_server.chat_calls() == []
    await comm.disconnect()


def _conversation(user, title: str, text: str) -> None:
    conversation = Conversation.objects.create(user=user, title=title)
    Message.objects.create(conversation=conversation, role="user", content=text)


async def test_no_tool_reaches_another_users_data(demo_server, mcp_record):
    victim = await sync_to_async(UserFactory)(brand_voice="Victim voice")
    intruder = await sync_to_async(UserFactory)(brand_voice="Intruder voice")
    await sync_to_async(_on_plan)(intruder, "starter")
    await sync_to_async(_conversation)(victim, "Secret launch", "secret plan x")
    await sync_to_async(_conversation)(intruder, "My launch", "my secret notes")

    # Through the loop: the model searches, with the intruder's identity only.
    comm = await _socket(intruder)
    await comm.send_json_to(
        {
            "type": "chat",
            "agent": "researcher",
            "message": "secret [[tools:search_my_content]]",
        }
    )
    frames = await _frames_until(comm, {"done", "error"})
    result = next(f for f in frames if f["type"] == "tool_result")
    found = json.loads(result["content"])["results"]
    assert {r["title"] for r in found} == {"My launch"}
    await comm.disconnect()

    # Even arguments naming another user cannot switch identity.
    plan = await sync_to_async(plan_info_for_user_id)(user_id=intruder.pk)
    agent = await sync_to_async(lambda: Agent.objects.get(slug="brand-strategist"))()
    from ai.selectors import agent_info

    toolset = await toolset_for_agent(
        user_id=intruder.pk, plan=plan, agent=agent_info(agent)
    )
    for name, args in [
        ("search_my_content", {"query": "secret", "user_id": victim.pk}),
        ("brand_voice", {"user_id": victim.pk}),
    ]:
        output = await tool_run(
            toolset=toolset,
            user_id=intruder.pk,
            name=name,
            arguments=json.dumps(args),
        )
        assert "Victim" not in output.text
        assert "secret plan x" not in output.text
    voice = await tool_run(
        toolset=toolset, user_id=intruder.pk, name="brand_voice", arguments="{}"
    )
    assert "Intruder voice" in voice.text

    # Another user's MCP server is not in anyone else's tool set.
    owner = await sync_to_async(_slow_agent)(mcp_record.url)
    stranger = await sync_to_async(lambda: _on_plan(UserFactory(), "business"))()
    borrowed = await sync_to_async(Agent.objects.get)(owner=owner, slug="waiter")
    stolen = await toolset_for_agent(
        user_id=stranger.pk,
        plan=await sync_to_async(plan_info_for_user_id)(user_id=stranger.pk),
        agent=agent_info(borrowed),
    )
    assert stolen == ToolSet({})
    denied = await tool_run(
        toolset=stolen, user_id=stranger.pk, name="acme__shout", arguments="{}"
    )
    assert denied.is_error
    assert mcp_record.calls == []


async def test_tool_lists_are_cached_and_refreshed_after_a_failed_call(mcp_record):
    from ai.providers.mcp import McpEndpoint, mcp_tool_call, mcp_tools_list

    endpoint = McpEndpoint(
        server_id=9_999,
        slug="acme",
        url=mcp_record.url,
        version="v-cache-test",
        headers={"Authorization": TOKEN},
    )
    first = await mcp_tools_list(endpoint, refresh=True)
    listed = mcp_record.methods.count("tools/list")
    again = await mcp_tools_list(endpoint)
    assert again == first
    assert mcp_record.methods.count("tools/list") == listed  # served from the cache
    failed = await mcp_tool_call(endpoint, name="no_such_tool", arguments={}, timeout=5)
    assert failed.is_error
    await mcp_tools_list(endpoint)
    assert mcp_record.methods.count("tools/list") == listed + 1  # listed afresh
    bad = McpEndpoint(
        server_id=9_998, slug="bad", url=mcp_record.url, version="x", headers={}
    )
    from ai.providers.mcp import McpFailure

    with pytest.raises(McpFailure):  # 401 without the stored auth header
        await mcp_tools_list(bad)


async def test_a_users_server_on_a_private_address_is_refused_when_called(
    demo_server, mcp_record, settings
):
    """Registered while allowed (or re-pointed by DNS later): refused at call time."""
    owner = await sync_to_async(_slow_agent)(mcp_record.url)
    settings.AI_MCP_ALLOW_PRIVATE_URLS = False
    plan = await sync_to_async(plan_info_for_user_id)(user_id=owner.pk)
    from ai.selectors import agent_info

    agent = await sync_to_async(Agent.objects.get)(owner=owner, slug="waiter")
    toolset = await toolset_for_agent(
        user_id=owner.pk, plan=plan, agent=agent_info(agent)
    )
    assert toolset == ToolSet({})  # its tools cannot even be listed
    assert mcp_record.methods == []  # nothing reached the server
