"""The platform's `MCPServer`: tools, `flowmatik://` resources and prompts.

Every tool acts in the caller's name (`mcp_caller()`) through the same services
and selectors as the REST API, so it is metered and limited exactly like it. A
refused call (quota exceeded, plan gate, bad input, not found) is an MCP tool
error whose content is the REST error body `{"error": {code, message, details}}`,
never a transport failure. Waiting on a job reports MCP progress notifications.
"""

import asyncio
import json
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import AnyHttpUrl
from rest_framework import serializers

from ai import services
from ai import studio_formats as formats
from ai.api.studio_serializers import GenerateContentInputSerializer
from ai.mcp_server import outputs
from ai.mcp_server.auth import ApiKeyVerifier, mcp_caller
from ai.models import JobStatus, JobType
from ai.services import jobs
from ai.services.jobs import TEXT_TYPES
from ai.services.workflows import workflow_run_start
from ai.types import ChatRequest
from flowmatik.errors import ApplicationError, InvalidInput

MCP_CHAT_ENDPOINT = "mcp.chat"
TERMINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}
INSTRUCTIONS = (
    "Flowmatik: chat with AI models and agents, generate content (text, images, "
    "speech, video) as jobs, and read your conversations, jobs and usage."
)


def _request_id() -> str:
    return f"mcp_{uuid.uuid4().hex[:16]}"


def tool_error(exc: ApplicationError) -> CallToolResult:
    """A refused call as an MCP tool error carrying the REST error body."""
    body = {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "details": outputs.plain(exc.details or {}),
        }
    }
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body))],
        structured_content=body,
        is_error=True,
    )


async def _job_follow(*, user_id: int, job_id: int, ctx: Context) -> dict[str, Any]:
    """Wait (up to MCP_JOB_WAIT_SECONDS) for the job to end, reporting progress."""
    read = database_sync_to_async(outputs.job_read)
    deadline = time.monotonic() + settings.MCP_JOB_WAIT_SECONDS
    last = -1
    while True:
        job = await read(user_id=user_id, job_id=job_id)
        if job["progress"] != last or job["status"] in TERMINAL:
            last = job["progress"]
            await ctx.report_progress(last, 100, job["status"])
        if job["status"] in TERMINAL or time.monotonic() >= deadline:
            return job
        await asyncio.sleep(settings.MCP_JOB_POLL_SECONDS)


def _content_validate(data: dict[str, Any]) -> dict[str, Any]:
    serializer = GenerateContentInputSerializer(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except serializers.ValidationError as exc:
        raise InvalidInput(details={"fields": exc.detail}) from None
    return serializer.validated_data


def _register_tools(server: MCPServer) -> None:
    @server.tool()
    async def chat(
        message: str,
        agent: str | None = None,
        model: str | None = None,
        conversation_id: int | None = None,
        reasoning_depth: int = 0,
    ) -> dict[str, Any]:
        """Send a message to an AI model or agent (a new or continued conversation).
        Metered against your daily quota like the REST chat. `reasoning_depth`
        1..3 plans, drafts, critiques and revises first (each step metered)."""
        try:
            caller = mcp_caller()
            result = await services.chat_run(
                ChatRequest(
                    user_id=caller.user_id,
                    api_key_id=caller.api_key_id,
                    request_id=_request_id(),
                    endpoint=MCP_CHAT_ENDPOINT,
                    message=message,
                    conversation_id=conversation_id,
                    model=model or None,
                    agent=agent or None,
                    persist=True,
                    reasoning_depth=reasoning_depth,
                )
            )
        except ApplicationError as exc:
            return tool_error(exc)
        return outputs.chat_output(result)

    @server.tool()
    async def generate_content(
        type: str,
        prompt: str,
        ctx: Context,
        options: dict[str, Any] | None = None,
        agent: str | None = None,
        model: str | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Generate content as a background job: blog_post, social_post, email,
        ad_copy, product_description, video_script, seo_meta, image, audio or video.
        With `wait` (default) the call reports progress and returns the finished
        job (or the job as it stands after the wait limit); else it returns at once."""
        try:
            caller = mcp_caller()
            body = {"type": type, "prompt": prompt, "options": options or {}}
            body.update({k: v for k, v in (("agent", agent), ("model", model)) if v})
            data = _content_validate(body)
            job = await database_sync_to_async(jobs.job_create)(
                user_id=caller.user_id,
                job_type=data["type"],
                prompt=data["prompt"],
                options=data["options"],
                agent=data.get("agent") or "",
                model=data.get("model") or "",
                request_id=_request_id(),
            )
            if not wait:
                return await database_sync_to_async(outputs.job_read)(
                    user_id=caller.user_id, job_id=job.pk
                )
            return await _job_follow(user_id=caller.user_id, job_id=job.pk, ctx=ctx)
        except ApplicationError as exc:
            return tool_error(exc)

    @server.tool()
    async def get_job(job_id: int, ctx: Context, wait: bool = False) -> dict[str, Any]:
        """A content job with its result and asset links. With `wait`, follow its
        progress (MCP progress notifications) until it ends."""
        try:
            caller = mcp_caller()
            if wait:
                return await _job_follow(user_id=caller.user_id, job_id=job_id, ctx=ctx)
            return await database_sync_to_async(outputs.job_read)(
                user_id=caller.user_id, job_id=job_id
            )
        except ApplicationError as exc:
            return tool_error(exc)

    @server.tool()
    async def list_jobs(
        type: str = "",
        status: str = "",
        limit: int = 20,
    ) -> dict[str, Any]:
        """Your content jobs, newest first (filter by type and status)."""
        caller = mcp_caller()
        rows = await database_sync_to_async(outputs.job_list_read)(
            user_id=caller.user_id,
            job_type=type,
            status=status,
            limit=max(1, min(limit, settings.MCP_LIST_MAX_ITEMS)),
        )
        return {"results": rows}

    @server.tool()
    async def list_conversations(search: str = "", limit: int = 20) -> dict[str, Any]:
        """Your conversations, most recent first."""
        caller = mcp_caller()
        rows = await database_sync_to_async(outputs.conversation_list_read)(
            user_id=caller.user_id,
            search=search.strip(),
            limit=max(1, min(limit, settings.MCP_LIST_MAX_ITEMS)),
        )
        return {"results": rows}

    @server.tool()
    async def get_conversation(conversation_id: int) -> dict[str, Any]:
        """One of your conversations with its latest messages."""
        try:
            caller = mcp_caller()
            return await database_sync_to_async(outputs.conversation_read)(
                user_id=caller.user_id,
                conversation_id=conversation_id,
                limit=settings.MCP_CONVERSATION_MAX_MESSAGES,
            )
        except ApplicationError as exc:
            return tool_error(exc)

    @server.tool()
    async def get_usage() -> dict[str, Any]:
        """Today's quota (requests and tokens left, reset time) and recorded totals."""
        caller = mcp_caller()
        return await database_sync_to_async(outputs.usage_read)(user_id=caller.user_id)

    @server.tool()
    async def list_workflows() -> dict[str, Any]:
        """Your workflows, then the public templates (id, name, inputs, steps)."""
        caller = mcp_caller()
        rows = await database_sync_to_async(outputs.workflow_list_read)(
            user_id=caller.user_id, limit=settings.MCP_LIST_MAX_ITEMS
        )
        return {"results": rows}

    @server.tool()
    async def run_workflow(
        workflow_id: int,
        ctx: Context,
        inputs: dict[str, str] | None = None,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Run one of your workflows (or a public template) with its inputs, as
        one job: with `wait` (default) report its progress and return the finished
        run (each step's output in `result.steps`)."""
        try:
            caller = mcp_caller()
            job = await database_sync_to_async(workflow_run_start)(
                user_id=caller.user_id,
                workflow_id=workflow_id,
                inputs=inputs or {},
                request_id=_request_id(),
            )
            if not wait:
                return await database_sync_to_async(outputs.job_read)(
                    user_id=caller.user_id, job_id=job.pk
                )
            return await _job_follow(user_id=caller.user_id, job_id=job.pk, ctx=ctx)
        except ApplicationError as exc:
            return tool_error(exc)

    @server.tool()
    async def list_agents() -> dict[str, Any]:
        """The agents you can chat with (public ones your plan reaches, and yours)."""
        caller = mcp_caller()
        rows = await database_sync_to_async(outputs.agent_list_read)(
            user_id=caller.user_id
        )
        return {"results": rows}


def _register_resources(server: MCPServer) -> None:
    @server.resource(
        "flowmatik://conversations/{conversation_id}",
        name="conversation",
        description="A conversation's transcript (Markdown).",
        mime_type="text/markdown",
    )
    async def conversation(conversation_id: str) -> str:
        caller = mcp_caller()
        data = await database_sync_to_async(outputs.conversation_read)(
            user_id=caller.user_id,
            conversation_id=_id(conversation_id),
            limit=settings.MCP_CONVERSATION_MAX_MESSAGES,
        )
        return outputs.transcript(data)

    @server.resource(
        "flowmatik://jobs/{job_id}",
        name="generated_content",
        description="A content job's generated text, then links to its assets.",
        mime_type="text/markdown",
    )
    async def generated_content(job_id: str) -> str:
        caller = mcp_caller()
        data = await database_sync_to_async(outputs.job_read)(
            user_id=caller.user_id, job_id=_id(job_id)
        )
        return outputs.job_document(data)


def _id(value: str) -> int:
    if not value.isdigit():
        raise InvalidInput("Not an id.", details={"id": value})
    return int(value)


def _prompt_for(kind: str):
    def render(topic: str, language: str = "en") -> str:
        system = formats.system_prompt(
            kind=kind,
            options={},
            language=language if language in formats.LANGUAGE_NAMES else "en",
            persona="",
            profile="",
        )
        return f"{system.strip()}\n\n{topic}"

    return render


def _register_prompts(server: MCPServer) -> None:
    """One prompt per text content type: the studio's own instructions."""
    for kind in sorted(TEXT_TYPES):
        label = JobType(kind).label.lower()
        server.prompt(name=str(kind), description=f"Write a {label} about a topic.")(
            _prompt_for(str(kind))
        )


def server_build() -> MCPServer:
    """A new MCP server of the platform (each serving app needs its own)."""
    base = settings.FRONTEND_URL.rstrip("/")
    from mcp.server.auth.settings import AuthSettings

    server = MCPServer(
        "flowmatik",
        version="1.0",
        instructions=INSTRUCTIONS,
        token_verifier=ApiKeyVerifier(),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(base),
            resource_server_url=AnyHttpUrl(f"{base}/mcp"),
            validate_token_resource=False,
        ),
    )
    _register_tools(server)
    _register_resources(server)
    _register_prompts(server)
    return server
