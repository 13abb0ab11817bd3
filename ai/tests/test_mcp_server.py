"""Flowmatik as an MCP server, driven by the official `mcp` client SDK over
Streamable HTTP against the live platform (uvicorn serving `flowmatik.asgi`)."""

import uuid

import httpx
import httpx2
import pytest
from asgiref.sync import async_to_sync
from celery.contrib.testing.worker import start_worker
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from accounts.tests.factories import UserFactory
from ai.models import ContentJob, Conversation
from flowmatik.celery import app as celery_app
from flowmatik.testing.auth import api_key_for
from usage.services import quota_override_set

pytestmark = pytest.mark.usefixtures("catalogue_tx")

TOOLS = {
    "chat",
    "generate_content",
    "get_job",
    "list_jobs",
    "list_conversations",
    "get_conversation",
    "get_usage",
    "list_agents",
    "list_workflows",
    "run_workflow",
}


def _session(live_asgi, key: str):
    """An MCP session as a client app opens it (returns the async context)."""
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx2.Timeout(30, read=60),
    )
    return http, Client(streamable_http_client(f"{live_asgi}/mcp", http_client=http))


def mcp_run(live_asgi, key: str, body):
    """Run `body(client)` inside one MCP session; its result."""

    async def go():
        http, client = _session(live_asgi, key)
        async with http, client as session:
            return await body(session)

    return async_to_sync(go)()


@pytest.fixture
def pro_key(transactional_db):
    user = UserFactory()
    return user, api_key_for(user, plan="pro")


def test_no_key_or_a_bad_key_is_refused_with_401_before_any_mcp_traffic(live_asgi):
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    anonymous = httpx.post(f"{live_asgi}/mcp", json=hello, headers=accept, timeout=10)
    bad = httpx.post(
        f"{live_asgi}/mcp",
        json=hello,
        headers={**accept, "Authorization": "Bearer fmk_not-a-real-key"},
        timeout=10,
    )
    assert anonymous.status_code == 401
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["WWW-Authenticate"]
    assert "jsonrpc" not in bad.text

    async def body(session):
        return await session.list_tools()

    with pytest.raises(Exception):  # noqa: B017,PT011 - the SDK's own refusal
        mcp_run(live_asgi, "fmk_not-a-real-key", body)


def test_a_jwt_is_not_an_mcp_credential(live_asgi, pro_key):
    from flowmatik.testing.auth import jwt_for

    user, _ = pro_key
    response = httpx.post(
        f"{live_asgi}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
        headers={
            "Accept": "application/json, text/event-stream",
            "Authorization": f"Bearer {jwt_for(user)}",
        },
        timeout=10,
    )
    assert response.status_code == 401


def test_tools_prompts_and_resources_are_listed(live_asgi, pro_key):
    _, key = pro_key

    async def body(session):
        tools = await session.list_tools()
        prompts = await session.list_prompts()
        templates = await session.list_resource_templates()
        prompt = await session.get_prompt("blog_post", {"topic": "Cold brew"})
        return tools, prompts, templates, prompt

    tools, prompts, templates, prompt = mcp_run(live_asgi, key, body)
    assert {tool.name for tool in tools.tools} >= TOOLS
    chat = next(tool for tool in tools.tools if tool.name == "chat")
    assert set(chat.input_schema["properties"]) >= {
        "message",
        "agent",
        "model",
        "conversation_id",
    }
    assert {"blog_post", "seo_meta", "social_post"} <= {p.name for p in prompts.prompts}
    uris = {t.uri_template for t in templates.resource_templates}
    assert uris == {
        "flowmatik://conversations/{conversation_id}",
        "flowmatik://jobs/{job_id}",
    }
    text = prompt.messages[0].content.text
    assert "blog_post" in text
    assert text.endswith("Cold brew")


def test_chat_is_metered_stored_and_readable_as_a_resource(live_asgi, pro_key):
    user, key = pro_key

    async def body(session):
        first = await session.call_tool("chat", {"message": "Name a tea"})
        conversation_id = first.structured_content["conversation_id"]
        second = await session.call_tool(
            "chat", {"message": "And a coffee", "conversation_id": conversation_id}
        )
        resource = await session.read_resource(
            f"flowmatik://conversations/{conversation_id}"
        )
        listed = await session.call_tool("list_conversations", {})
        usage = await session.call_tool("get_usage", {})
        return first, second, resource, listed, usage

    first, second, resource, listed, usage = mcp_run(live_asgi, key, body)
    assert first.is_error is False, first.content
    reply = first.structured_content
    assert reply["reply"]
    assert reply["usage"]["total_tokens"] > 0
    assert second.structured_content["conversation_id"] == reply["conversation_id"]

    conversation = Conversation.objects.get(pk=reply["conversation_id"])
    assert conversation.user_id == user.pk
    assert conversation.message_count == 4
    transcript = resource.contents[0].text
    assert "Name a tea" in transcript
    assert "And a coffee" in transcript
    assert [c["id"] for c in listed.structured_content["results"]] == [conversation.pk]
    assert usage.structured_content["quota"]["requests_used"] == 2

    from usage.models import UsageRecord
    from usage.services import usage_events_drain

    usage_events_drain()
    records = UsageRecord.objects.filter(user=user, endpoint="mcp.chat")
    assert records.count() == 2
    assert {r.status for r in records} == {"success"}


def test_quota_exceeded_is_an_mcp_tool_error_with_the_quota_details(live_asgi, pro_key):
    user, key = pro_key
    quota_override_set(user_id=user.pk, requests_per_day=1, reason="test")

    async def body(session):
        admitted = await session.call_tool("chat", {"message": "hi"})
        refused = await session.call_tool("chat", {"message": "again"})
        return admitted, refused

    admitted, refused = mcp_run(live_asgi, key, body)
    assert admitted.is_error is False
    assert refused.is_error is True
    error = refused.structured_content["error"]
    assert error["code"] == "quota_exceeded"
    assert error["details"]["limit"] == 1
    assert "quota_exceeded" in refused.content[0].text


def test_another_users_conversations_and_jobs_are_unreachable(live_asgi, pro_key):
    _, key = pro_key
    stranger = UserFactory()
    theirs = Conversation.objects.create(user=stranger, title="private")
    job = ContentJob.objects.create(user=stranger, type="blog_post", prompt="secret")

    async def body(session):
        tool = await session.call_tool(
            "get_conversation", {"conversation_id": theirs.pk}
        )
        job_tool = await session.call_tool("get_job", {"job_id": job.pk})
        errors = []
        for uri in (
            f"flowmatik://conversations/{theirs.pk}",
            f"flowmatik://jobs/{job.pk}",
        ):
            try:
                await session.read_resource(uri)
            except MCPError as exc:
                errors.append(str(exc))
        listed = await session.call_tool("list_jobs", {})
        return tool, job_tool, errors, listed

    tool, job_tool, errors, listed = mcp_run(live_asgi, key, body)
    assert tool.is_error is True
    assert tool.structured_content["error"]["code"] == "not_found"
    assert job_tool.is_error is True
    assert len(errors) == 2
    assert all("private" not in e and "secret" not in e for e in errors)
    assert listed.structured_content["results"] == []


def test_bad_content_input_is_a_tool_error_with_field_details(live_asgi, pro_key):
    _, key = pro_key

    async def body(session):
        return await session.call_tool(
            "generate_content",
            {"type": "poem", "prompt": "x", "options": {"bogus": 1}},
        )

    result = mcp_run(live_asgi, key, body)
    assert result.is_error is True
    assert result.structured_content["error"]["code"] == "invalid_input"
    assert "type" in result.structured_content["error"]["details"]["fields"]


def test_generate_content_runs_in_a_worker_and_reports_progress(
    live_asgi, pro_key, settings
):
    user, key = pro_key
    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.STUDIO_TASK_QUEUE = queue
    settings.MCP_JOB_POLL_SECONDS = 0.05
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value, total, message):
        progress.append((value, message))

    async def body(session):
        result = await session.call_tool(
            "generate_content",
            {"type": "blog_post", "prompt": "Cold brew at home"},
            progress_callback=on_progress,
        )
        job_id = result.structured_content["id"]
        resource = await session.read_resource(f"flowmatik://jobs/{job_id}")
        again = await session.call_tool(
            "get_job", {"job_id": job_id, "wait": True}, progress_callback=on_progress
        )
        return result, resource, again

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        result, resource, again = mcp_run(live_asgi, key, body)

    assert result.is_error is False, result.content
    job = result.structured_content
    assert job["status"] == "succeeded"
    assert job["result"]["title"] == "Cold brew at home"
    assert job["usage"]["total_tokens"] > 0
    values = [value for value, _ in progress]
    assert values == sorted(values)
    assert values[-1] == 100
    assert len(values) >= 2
    assert progress[-1][1] == "succeeded"
    assert "Cold brew at home" in resource.contents[0].text
    assert again.structured_content["id"] == job["id"]
    assert ContentJob.objects.get(pk=job["id"]).user_id == user.pk


def test_a_host_outside_allowed_hosts_is_refused(settings, pro_key):
    """DNS-rebinding protection: Host (and Origin) must match ALLOWED_HOSTS."""
    from ai.mcp_server.asgi import McpMount

    _, key = pro_key
    settings.ALLOWED_HOSTS = ["app.example"]
    mount = McpMount()
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {key}",
    }

    async def post(host: str, origin: str | None = None) -> int:
        extra = {"Host": host, **({"Origin": origin} if origin else {})}
        transport = httpx.ASGITransport(app=mount)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            response = await c.post("/mcp", json=hello, headers={**headers, **extra})
        return response.status_code

    async def calls():
        try:
            return (
                await post("rebound.example"),
                await post("app.example:8000", "https://evil.example"),
                await post("app.example:8000", "https://app.example"),
            )
        finally:
            await mount.shutdown()

    rebound, bad_origin, allowed = async_to_sync(calls)()
    assert rebound == 421
    assert bad_origin == 403
    assert allowed not in (403, 421)


def test_chat_with_reasoning_over_mcp_returns_its_metered_steps(live_asgi, pro_key):
    user, key = pro_key

    async def body(session):
        return await session.call_tool(
            "chat", {"message": "Plan a tea tasting", "reasoning_depth": 1}
        )

    result = mcp_run(live_asgi, key, body)
    assert result.is_error is False, result.content
    steps = result.structured_content["reasoning_steps"]
    assert steps[0]["step"] == "plan"
    assert steps[-1]["step"] == "critique"
    from usage.models import UsageRecord
    from usage.services import usage_events_drain

    usage_events_drain()
    assert UsageRecord.objects.filter(
        user=user, endpoint="mcp.chat.reasoning"
    ).count() == len(steps)


def test_run_workflow_over_mcp_reports_progress_per_step(live_asgi, pro_key, settings):
    from ai.models import Workflow

    user, key = pro_key
    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.STUDIO_TASK_QUEUE = queue
    settings.MCP_JOB_POLL_SECONDS = 0.05
    template = Workflow.objects.get(slug="newsletter-from-notes", owner__isnull=True)
    progress: list[float] = []

    async def on_progress(value, total, message):
        progress.append(value)

    async def body(session):
        listed = await session.call_tool("list_workflows", {})
        result = await session.call_tool(
            "run_workflow",
            {"workflow_id": template.pk, "inputs": {"notes": "tea, coffee"}},
            progress_callback=on_progress,
        )
        missing = await session.call_tool(
            "run_workflow", {"workflow_id": template.pk, "inputs": {}}
        )
        return listed, result, missing

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        listed, result, missing = mcp_run(live_asgi, key, body)
    assert template.pk in [w["id"] for w in listed.structured_content["results"]]
    assert result.is_error is False, result.content
    run = result.structured_content
    assert run["status"] == "succeeded"
    assert [s["name"] for s in run["result"]["steps"]] == ["outline", "email"]
    assert progress == sorted(progress)
    assert progress[-1] == 100
    assert missing.is_error is True
    assert missing.structured_content["error"]["code"] == "invalid_input"
    assert ContentJob.objects.filter(user=user, type="workflow").count() == 1


def test_with_the_asgi_lifespan_on_mcp_serves_and_shuts_down_cleanly(tmp_path, pro_key):
    """`make run`'s uvicorn (lifespan on, ALLOWED_HOSTS of the base settings): the
    session manager starts with the process and stops with it."""
    from flowmatik.testing.processes import uvicorn_process

    _, key = pro_key

    async def body(session):
        return await session.call_tool("get_usage", {})

    with uvicorn_process(workdir=tmp_path, name="mcp") as web:
        result = mcp_run(web.http_url, key, body)
    assert result.is_error is False, result.content
    assert result.structured_content["quota"]["requests_used"] == 0
    log = (tmp_path / "mcp.log").read_text()
    assert "Application startup complete" in log
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_a_lifespan_on_another_loop_leaves_the_mcp_session_manager_running():
    """One process, two event loops (a test's live server beside a lifespan run):
    a shutdown on one loop stops only a session manager that loop started."""
    import asyncio
    import threading

    from ai.mcp_server.asgi import McpMount

    mount = McpMount()
    server_loop = asyncio.new_event_loop()
    thread = threading.Thread(target=server_loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(mount.ensure_started(), server_loop).result(30)
        asyncio.run(mount.shutdown())  # another loop's lifespan ends
        assert mount._task is not None
        assert not mount._task.done()
        asyncio.run_coroutine_threadsafe(mount.shutdown(), server_loop).result(30)
        assert mount._task.done()
    finally:
        server_loop.call_soon_threadsafe(server_loop.stop)
        thread.join(10)
