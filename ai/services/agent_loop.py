"""Agents in the chat engine: an agent's prompt, model and tools, and its tool loop.

`agent_run(request)` is what `chat_run` calls when a request names an agent. The
agent is resolved for the caller's plan (400 `unknown_agent`, 403
`plan_feature_required`), its system prompt, default model and temperature fill
what the request left open, and:

- an agent without tools (or a /v1 call that brings its own `tools`: the client runs
  them) is one ordinary chat call;
- otherwise a bounded loop: each step is ONE call of the engine (`chat_prepare`,
  admitted, + `chat_stream`, settled: metered like any chat), its `tool_calls` run
  through `ai.tools.registry.tool_run` (in the caller's name, with a timeout and a
  size limit; failures become the tool's result) and are fed back, until the model
  answers. The last of AI_AGENT_MAX_STEPS steps is offered no tool
  (`tool_choice: "none"`), so the loop always ends with an answer.

Events: the engine's `start` (once), `delta`, `reasoning`, then `tool_call` /
`tool_result` per call, and at the end one `usage` (all steps summed) and `done`
(or `error`). The whole exchange (question, tool calls and results, answer) is
stored when the request persists; cancelling (closing the stream or cancelling its
task) stops at once, settles the running step and stores what happened so far.
"""

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from ai.models import Conversation, Message, MessageRole, MessageStatus
from ai.providers.mcp import ToolOutput
from ai.selectors import aagent_resolve
from ai.services.conversations import TITLE_CHARS
from ai.tools.registry import ToolSet, tool_run, toolset_for_agent
from ai.types import (
    AgentInfo,
    ChatDelta,
    ChatDone,
    ChatEvent,
    ChatFailure,
    ChatReasoning,
    ChatRequest,
    ChatResult,
    ChatStart,
    ChatStream,
    ChatToolCall,
    ChatToolResult,
    ChatUsage,
    ChatUsageReport,
    PreparedChat,
)
from flowmatik.cancellation import cancel_checkpoint
from flowmatik.errors import ApplicationError

logger = logging.getLogger("flowmatik.ai")


@dataclass
class _Step:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    results: list[tuple[str, str]] = field(default_factory=list)  # (call id, text)
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _Loop:
    request: ChatRequest
    agent: AgentInfo
    toolset: ToolSet
    steps: list[_Step] = field(default_factory=list)
    model: str = ""
    provider: str = ""
    currency: str = "USD"
    cost: Decimal = Decimal("0")
    estimated: bool = False
    finish_reason: str = "stop"
    quota: Any = None
    error: ApplicationError | None = None
    done: ChatDone | None = None  # the running step's end
    saved: tuple[int | None, int | None] | None = None

    @property
    def usage(self) -> ChatUsage:
        return ChatUsage(
            sum(s.prompt_tokens for s in self.steps),
            sum(s.completion_tokens for s in self.steps),
            self.cost,
            self.currency,
            self.estimated,
        )


def agent_reasoning_depth(*, plan: Any, declared: int) -> int:
    """The depth an agent's declared reasoning runs at: capped by the plan."""
    from ai.services.reasoning import reasoning_depth_allowed

    allowed = reasoning_depth_allowed(plan)
    return min(declared, allowed)


async def agent_run(
    request: ChatRequest,
    *,
    plain_run: Callable[[ChatRequest], Awaitable[ChatResult | ChatStream]],
) -> ChatResult | ChatStream:
    """Run `request` (which names an agent); `plain_run` is the engine's one-call
    path, used when the agent has no tools to offer."""
    from ai.services.chat import chat_prepare, plan_for_user

    plan = request.plan or await plan_for_user(request.user_id)
    # chat_run calls agent_run only for a request that names an agent
    slug = cast(str, request.agent)
    agent = await aagent_resolve(user_id=request.user_id, plan=plan, slug=slug)
    request = replace(
        request,
        plan=plan,
        system_prompt=agent.system_prompt,
        model=request.model or agent.model or None,
        temperature=(
            request.temperature
            if request.temperature is not None
            else agent.temperature
        ),
    )
    if request.tools is not None:  # /v1 with the client's own tools: it runs them
        return await plain_run(request)
    depth = agent_reasoning_depth(plan=plan, declared=agent.reasoning_depth)
    if depth and request.message is not None:  # the agent answers with reasoning
        return await plain_run(replace(request, reasoning_depth=depth))
    toolset = await toolset_for_agent(user_id=request.user_id, plan=plan, agent=agent)
    if not toolset:
        return await plain_run(request)
    loop = _Loop(request=request, agent=agent, toolset=toolset)
    prepared = await chat_prepare(
        replace(
            request, tools=toolset.openai_tools(), tool_choice="auto", persist=False
        )
    )
    loop.quota = prepared.reservation.quota
    events = _steps(loop, prepared)
    if request.stream:
        return await _open(loop, events)
    return await _collect(loop, events)


async def _open(loop: _Loop, events: AsyncGenerator[ChatEvent, None]) -> ChatStream:
    """Like the engine's stream: a failure before `start` is raised, not streamed."""
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    if isinstance(first, ChatFailure):
        await events.aclose()
        raise _quota_on(first.error, loop.quota)
    start = cast(ChatStart, first)  # the loop's first event: `start` or a failure
    return ChatStream(start=start, events=_prepend(first, events), quota=loop.quota)


async def _prepend(
    first: ChatEvent, events: AsyncGenerator[ChatEvent, None]
) -> AsyncGenerator[ChatEvent, None]:
    try:
        yield first
        async for event in events:
            yield event
    finally:
        await events.aclose()


async def _collect(loop: _Loop, events: AsyncGenerator[ChatEvent, None]) -> ChatResult:
    try:
        async for event in events:
            if isinstance(event, ChatFailure):
                raise _quota_on(event.error, loop.quota)
    finally:
        await events.aclose()
    final = loop.steps[-1] if loop.steps else _Step()
    message_id, conversation_id = loop.saved or (None, None)
    return ChatResult(
        content=final.content,
        model=loop.model,
        provider=loop.provider,
        conversation_id=conversation_id,
        message_id=message_id,
        usage=loop.usage,
        finish_reason=loop.finish_reason,
        request_id=loop.request.request_id,
        quota=loop.quota,
        reasoning=final.reasoning,
    )


def _quota_on(error: ApplicationError, quota: Any) -> ApplicationError:
    if getattr(error, "quota", None) is None:
        # ApplicationError declares no `quota`: the engine attaches it and reads it back
        setattr(error, "quota", quota)  # noqa: B010
    return error


def _with_ids(calls: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    """The calls with an id each (a tool result must name its call; some providers
    leave it out)."""
    return [
        {**call, "id": call.get("id") or f"call_s{step}_{index}"}
        for index, call in enumerate(calls)
    ]


def _next_messages(prepared: PreparedChat, step: _Step) -> list[dict[str, Any]]:
    assistant: dict[str, Any] = {"role": "assistant", "content": step.content}
    assistant["tool_calls"] = step.tool_calls
    tools = [
        {"role": "tool", "tool_call_id": call_id, "content": text}
        for call_id, text in step.results
    ]
    return [*prepared.messages, assistant, *tools]


async def _model_step(
    loop: _Loop, prepared: PreparedChat, step: _Step, number: int
) -> AsyncGenerator[ChatEvent, None]:
    """One engine call: relays `start` (first step), `delta`, `reasoning`; fills
    `step`; returns the `ChatDone` (None after a failure, kept in `loop.error`)."""
    from ai.services.chat import chat_stream

    # chat_stream is an async generator (closed below)
    events = cast(AsyncGenerator[ChatEvent, None], chat_stream(prepared))
    done = None
    try:
        async for event in events:
            if isinstance(event, ChatStart):
                loop.model = loop.model or event.model
                loop.provider = loop.provider or event.provider
                if number == 1:
                    yield event
            elif isinstance(event, ChatDelta):
                step.content += event.content
                yield event
            elif isinstance(event, ChatReasoning):
                step.reasoning += event.content
                yield event
            elif isinstance(event, ChatUsageReport):
                step.prompt_tokens = event.usage.prompt_tokens
                step.completion_tokens = event.usage.completion_tokens
                loop.cost += event.usage.cost
                loop.currency = event.usage.currency
                loop.estimated = loop.estimated or event.usage.estimated
            elif isinstance(event, ChatDone):
                done = event
            elif isinstance(event, ChatFailure):
                loop.error = event.error
    finally:
        await events.aclose()
    loop.done = done


async def _steps(
    loop: _Loop, prepared: PreparedChat
) -> AsyncGenerator[ChatEvent, None]:
    """The loop's events (see the module docstring); stores the exchange once."""
    from ai.services.chat import chat_prepare

    max_steps = max(1, settings.AI_AGENT_MAX_STEPS)
    request = loop.request
    try:
        number = 0
        while True:
            number += 1
            step = _Step()
            loop.steps.append(step)
            loop.done = None
            async for event in _model_step(loop, prepared, step, number):
                yield event
            if loop.error is not None:
                break
            done = loop.done
            loop.finish_reason = done.finish_reason if done else "stop"
            if not done or not done.tool_calls:
                break
            step.tool_calls = _with_ids(done.tool_calls, number)
            if number >= max_steps:  # the model ignored tool_choice "none"
                loop.finish_reason = "step_limit"
                break
            for index, call in enumerate(step.tool_calls):
                function = call.get("function") or {}
                name, arguments = (
                    function.get("name", ""),
                    function.get("arguments", ""),
                )
                yield ChatToolCall(
                    id=call["id"], name=name, arguments=arguments, step=number
                )
                if index < settings.AI_AGENT_MAX_TOOL_CALLS:
                    cancel_checkpoint()
                    output = await tool_run(
                        toolset=loop.toolset,
                        user_id=request.user_id,
                        name=name,
                        arguments=arguments,
                    )
                else:  # every call still gets a result: providers require one
                    output = ToolOutput(
                        "Error: too many tool calls in one step; call fewer.", True
                    )
                step.results.append((call["id"], output.text))
                yield ChatToolResult(
                    id=call["id"],
                    name=name,
                    content=output.text,
                    is_error=output.is_error,
                    step=number,
                )
            last = number + 1 >= max_steps
            cancel_checkpoint()
            try:
                prepared = await chat_prepare(
                    ChatRequest(
                        user_id=request.user_id,
                        endpoint=request.endpoint,
                        request_id=request.request_id,
                        messages=_next_messages(prepared, step),
                        model=loop.model or request.model,
                        temperature=request.temperature,
                        max_tokens=request.max_tokens,
                        tools=loop.toolset.openai_tools(),
                        tool_choice="none" if last else "auto",
                        api_key_id=request.api_key_id,
                        ip=request.ip,
                        plan=request.plan,
                        stream=True,
                        still_wanted=request.still_wanted,
                    )
                )
            except ApplicationError as exc:  # e.g. the quota ran out mid-loop
                loop.error = exc
                break
            loop.quota = prepared.reservation.quota
        await _save_shielded(loop, status=_status(loop))
        if loop.usage.total_tokens or loop.error is None:
            yield ChatUsageReport(usage=loop.usage)
        if loop.error is not None:
            yield ChatFailure(error=_quota_on(loop.error, loop.quota))
        else:
            message_id, conversation_id = loop.saved or (None, None)
            yield ChatDone(
                message_id=message_id,
                conversation_id=conversation_id or request.conversation_id,
                finish_reason=loop.finish_reason,
                tool_calls=[],
            )
    finally:
        if loop.saved is None:  # cancelled or closed mid-loop
            await _save_shielded(loop, status=MessageStatus.PARTIAL)


def _status(loop: _Loop) -> str:
    if loop.error is None:
        return MessageStatus.COMPLETE
    return MessageStatus.PARTIAL


async def _save_shielded(loop: _Loop, *, status: str) -> None:
    if loop.saved is not None:
        return
    loop.saved = (None, None)
    if not loop.request.persist:
        return
    task = asyncio.ensure_future(
        sync_to_async(agent_turn_save)(loop=loop, status=status)
    )
    try:
        loop.saved = await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # stored all the same; the cancellation goes on
        raise
    except Exception:
        logger.exception(
            "Could not store the agent turn",
            extra={"requestId": loop.request.request_id},
        )


def agent_turn_save(*, loop: _Loop, status: str) -> tuple[int | None, int | None]:
    """Store the question, each tool step (the assistant's calls, the results) and
    the answer; returns (answer message id, conversation id)."""
    request = loop.request
    steps = [s for s in loop.steps if s.tool_calls or s.content or s.reasoning]
    if not steps:
        return None, request.conversation_id
    rows: list[Message] = [
        Message(
            role=MessageRole.USER,
            content=request.message or "",
            request_id=request.request_id,
        )
    ]
    for step in steps:
        rows.append(
            Message(
                role=MessageRole.ASSISTANT,
                content=step.content,
                reasoning=step.reasoning,
                tool_calls=step.tool_calls or None,
                model=loop.model,
                status=MessageStatus.COMPLETE if step.tool_calls else status,
                prompt_tokens=step.prompt_tokens,
                completion_tokens=step.completion_tokens,
                request_id=request.request_id,
            )
        )
        for call_id, text in step.results:
            rows.append(
                Message(
                    role=MessageRole.TOOL,
                    content=text,
                    tool_call_id=call_id,
                    request_id=request.request_id,
                )
            )
    with transaction.atomic():
        if request.conversation_id is None:
            conversation = Conversation.objects.create(
                user_id=request.user_id,
                title=" ".join((request.message or "").split())[:TITLE_CHARS],
                model=loop.model,
                agent=loop.agent.slug,
                message_count=len(rows),
            )
        else:
            conversation = Conversation.objects.select_for_update().get(
                pk=request.conversation_id, user_id=request.user_id
            )
            conversation.message_count += len(rows)
            conversation.model = loop.model
            conversation.save(update_fields=["message_count", "model", "updated_at"])
        for row in rows:  # one by one: ids come back on every database
            row.conversation = conversation
            row.save(force_insert=True)
    answer = rows[-1] if rows[-1].role == MessageRole.ASSISTANT else None
    return (answer.pk if answer else None), conversation.pk
