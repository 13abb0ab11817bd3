"""The chat engine: the ONE path of every chat (REST, SSE, /v1, WebSocket, tasks).

Public surface (callers build on these; nothing else here is theirs to call):

- `ChatRequest` (`ai.types`): one typed request: a new `message` for a conversation
  or a whole `messages` list, the model, agent, limits, tools, `persist`, `stream`,
  the usage `endpoint` label and, when the caller has it, the user's `plan`.
- `chat_run(request)`: what views and consumers call. Prepares (validates with
  `ai.bounds`, resolves the model and its fallback, builds the context, admits
  through `usage.services.usage_admit`) and then either completes the call
  (`ChatResult`) or opens the stream (`ChatStream`, whose first event was already
  received, so a failure before any output raises and can still be a 4xx/5xx).
  Failures are `ApplicationError`s carrying the call's `quota` for the headers.
- `chat_complete_sync(request)`: the same complete call from sync code (Celery
  tasks). With `persist=False` it is a non-persisting, metered
  prompt -> text + usage call: background summaries use it, the content studio can.
- `chat_prepare(request) -> PreparedChat`, then `chat_stream(prepared)` (events)
  or `chat_complete(prepared)` (a `ChatResult`): ONE admitted model call, with the
  model's fallback when the first fails before any output, settled exactly once
  (also when the reader goes away mid-stream: the upstream stream is closed, the
  partial answer saved and the tokens generated so far settled as `partial`).
  A job's call carries `still_wanted`, awaited right before settling: when its
  job was canceled meanwhile, the call is settled as an error (not charged, not
  counted) and fails with `ai.errors.JobCanceled`.
  A tool-calling loop calls this pair once per round (each round is admitted and
  metered on its own), reads `tool_calls` from `ChatDone` / `ChatResult`, runs the
  tools and appends their results as `tool` messages for the next round.
- Events are `ai.types.ChatEvent` subclasses, one per kind (`ChatStart`,
  `ChatDelta`, `ChatUsageReport`, `ChatDone`, `ChatFailure` carrying the error
  itself). New kinds (`tool_call`, `tool_result`, `reasoning`) are new subclasses;
  the transports render kinds they do not know with `as_dict()`.

Inside, `_model_call` is the one place a model is called and `_run` the one relay
(fallback, accumulation, settlement) under both `chat_stream` and `chat_complete`.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation

from ai import bounds
from ai import context as ctx
from ai.errors import (
    JobCanceled,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from ai.models import MessageStatus
from ai.providers.chat import chat_complete_upstream, chat_stream_upstream
from ai.selectors import (
    aagent_resolve,
    acatalogue_get,
    conversation_history,
    fallback_for,
    model_resolve,
)
from ai.services.conversations import conversation_turn_save
from ai.types import (
    ChatDelta,
    ChatDone,
    ChatEvent,
    ChatFailure,
    ChatReasoning,
    ChatRequest,
    ChatResult,
    ChatStart,
    ChatStream,
    ChatUsage,
    ChatUsageReport,
    ModelInfo,
    PreparedChat,
    ProviderChunk,
)
from flowmatik.cancellation import cancel_checkpoint
from flowmatik.db_threads import in_worker_thread
from flowmatik.errors import ApplicationError, InvalidInput
from flowmatik.overload import Overloaded, ai_call_admitted, ai_call_check

logger = logging.getLogger("flowmatik.ai")

_FALLBACK_ERRORS = (ProviderError, ProviderTimeout, ProviderUnavailable)


def _usage():
    from usage import services as usage_services  # the usage app's seam

    return usage_services


# --- entry points -------------------------------------------------------------------


async def chat_run(request: ChatRequest) -> ChatResult | ChatStream:
    """Prepare and run one chat: a `ChatResult`, or a started `ChatStream` when
    `request.stream`. Raises `ApplicationError` (with `.quota` once admitted).

    A request naming an agent goes through `ai.services.agent_loop.agent_run`: the
    agent's prompt/model/temperature, and its tool loop when it has tools (each
    step one call of this engine). A `reasoning_depth` runs the ReasoningEngine's
    steps first (`ai.services.reasoning`)."""
    if request.reasoning_depth:
        from ai.services.reasoning import reasoning_chat_run

        return await reasoning_chat_run(request, plain_run=chat_run)
    if request.agent and request.system_prompt is None:
        from ai.services.agent_loop import agent_run

        return await agent_run(request, plain_run=chat_run)
    prepared = await chat_prepare(request)
    if not request.stream:
        return await chat_complete(prepared)
    return await _stream_open(prepared)


def chat_complete_sync(request: ChatRequest) -> ChatResult:
    """`chat_run` for sync code (a Celery task): always a complete call."""
    return async_to_sync(chat_run)(replace(request, stream=False))


def _with_quota(error: ApplicationError, quota: Any) -> ApplicationError:
    """Attach the call's quota so every transport can send the X-RateLimit headers."""
    if getattr(error, "quota", None) is None:
        error.quota = quota
    return error


# --- preparation: bounds, model, context, admission --------------------------------


async def plan_for_user(user_id: int):
    """The user's cached plan without a thread hop when the cache has it."""
    from billing.selectors import plan_info_for_user_id

    try:  # a cache hit touches no database, so it may run on the event loop
        return plan_info_for_user_id(user_id=user_id)
    except SynchronousOnlyOperation:  # a miss needs the database: use a thread
        return await in_worker_thread(plan_info_for_user_id, retry_dropped=True)(
            user_id=user_id
        )


async def _profile(user_id: int) -> str:
    cached = ctx.profile_context_cached(user_id)
    if cached is not None:
        return cached
    return await in_worker_thread(ctx.profile_context, retry_dropped=True)(user_id)


def _request_check(request: ChatRequest) -> None:
    """The parts of a request that no transport may skip (see `ai.bounds`)."""
    if (request.message is None) == (request.messages is None):
        raise InvalidInput("Send either a message or a message list.")
    if request.messages is not None and request.conversation_id is not None:
        raise InvalidInput("Send either a conversation_id or a message list.")
    if request.messages is not None and request.persist:
        raise InvalidInput("Only a single new message can be stored.")


async def chat_prepare(request: ChatRequest) -> PreparedChat:
    """Validate, resolve, build the context and admit one call; raises before output.

    Raises 400 `unknown_model` / `invalid_input` / `context_too_long`, 403
    `model_not_allowed`, 404 for another user's conversation, 503 when the model's
    provider is not configured, and whatever `usage_admit` raises (429).
    """
    _request_check(request)
    temperature = bounds.temperature_check(request.temperature)
    max_tokens = bounds.max_tokens_check(request.max_tokens)
    tools = bounds.tools_check(request.tools)
    if request.messages is not None:
        messages = bounds.messages_check(request.messages)
    else:
        text = bounds.message_text_check(request.message)

    plan = request.plan or await plan_for_user(request.user_id)
    catalogue = await acatalogue_get()
    # An operator-chosen model (summaries) is open to every plan: rank it highest.
    rank = (
        plan.sort_order
        if request.plan_models_only
        else max(catalogue.plan_rank.values(), default=plan.sort_order)
    )
    info = model_resolve(
        catalogue, model_id=request.model, plan_slug=plan.slug, plan_rank=rank
    )
    fallback = fallback_for(catalogue, model=info, plan_slug=plan.slug, plan_rank=rank)
    wanted = max_tokens or settings.AI_DEFAULT_MAX_TOKENS
    wanted = min(wanted, info.max_output_tokens, max(1, info.context_window // 2))

    system_prompt = request.system_prompt
    if system_prompt is None and request.agent:  # a caller that skipped chat_run
        agent = await aagent_resolve(
            user_id=request.user_id, plan=plan, slug=request.agent
        )
        system_prompt = agent.system_prompt
    if request.messages is not None:
        if system_prompt:  # an agent on /v1: its prompt leads the client's messages
            messages = [{"role": "system", "content": system_prompt}, *messages]
        built = ctx.context_build_from_messages(
            messages=messages, context_window=info.context_window, max_tokens=wanted
        )
        new_message = str(messages[-1].get("content") or "")
    else:
        history = (
            await sync_to_async(conversation_history)(
                user_id=request.user_id, conversation_id=request.conversation_id
            )
            if request.conversation_id is not None
            else None
        )
        built = ctx.context_build(
            system_prompt=system_prompt or ctx.DEFAULT_SYSTEM_PROMPT,
            profile=await _profile(request.user_id),
            history=history.messages if history else [],
            summary=history.summary if history else "",
            new_message=text,
            context_window=info.context_window,
            max_tokens=wanted,
        )
        new_message = text

    ai_call_check()  # a process at its limit of admitted calls: 503 before the quota
    reservation = await _usage().usage_admit(
        user_id=request.user_id,
        ip=request.ip,
        prompt_tokens=built.prompt_tokens,
        max_tokens=wanted,
        endpoint=request.endpoint,
        api_key_id=request.api_key_id,
        plan=plan,
    )
    providers = catalogue.providers
    prepared = PreparedChat(
        user_id=request.user_id,
        api_key_id=request.api_key_id,
        request_id=request.request_id,
        endpoint=request.endpoint,
        model=info,
        fallback=fallback,
        messages=built.messages,
        new_message=new_message,
        conversation_id=request.conversation_id,
        persist=request.persist,
        agent=request.agent,
        temperature=temperature,
        max_tokens=max(1, min(wanted, reservation.max_tokens)),
        prompt_tokens_estimate=built.prompt_tokens,
        reservation=reservation,
        tools=tools,
        tool_choice=request.tool_choice,
        still_wanted=request.still_wanted,
        providers={
            m.provider: providers[m.provider]
            for m in (info, fallback)
            if m is not None and m.provider in providers
        },
    )
    try:
        ai_call_admitted()
    except Overloaded as exc:
        # No slot among the process's admitted calls: give the reservation back
        # (settled as an error, nothing counts) and refuse.
        await _finalize(prepared, _Outcome(error=exc), cancelled=False)
        raise _with_quota(exc, prepared.reservation.quota) from None
    return prepared


# --- one model call, relayed and settled ---------------------------------------------


@dataclass
class _Outcome:
    """What happened during one call, filled in as it goes."""

    started: float = field(default_factory=time.perf_counter)
    model: ModelInfo | None = None
    parts: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    tool_calls: dict[int, dict] = field(default_factory=dict)
    reasoning: list[str] = field(default_factory=list)
    upstream_opened: bool = False
    ok: bool = False
    unwanted: bool = False  # its job was canceled: settled as an error
    error: ApplicationError | None = None
    finalized: "_Final | None" = None

    @property
    def content(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class _Final:
    usage: ChatUsage
    message_id: int | None
    conversation_id: int | None
    quota: Any


def _candidates(prepared: PreparedChat) -> list[ModelInfo]:
    return [prepared.model] + ([prepared.fallback] if prepared.fallback else [])


def _provider_for(prepared: PreparedChat, model: ModelInfo):
    provider = prepared.providers.get(model.provider)
    if provider is None:
        raise ProviderUnavailable(
            "This model's provider is not configured.",
            details={"provider": model.provider},
        )
    return provider


async def _completion_chunks(**kwargs) -> AsyncIterator[ProviderChunk]:
    """A complete (non-streamed) call seen as one chunk, so one relay serves both."""
    completion = await chat_complete_upstream(**kwargs)
    yield ProviderChunk(
        content=completion.content,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        reasoning=completion.reasoning,
        tool_calls=[
            {
                "index": index,
                "id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
            }
            for index, call in enumerate(completion.tool_calls)
        ],
    )


def _model_call(
    prepared: PreparedChat, model: ModelInfo, *, stream: bool
) -> AsyncIterator[ProviderChunk]:
    """THE single call of one model: provider chunks (one chunk when not streamed)."""
    kwargs = {
        "provider": _provider_for(prepared, model),
        "model": model.upstream_name,
        "messages": prepared.messages,
        "max_tokens": prepared.max_tokens,
        "temperature": prepared.temperature,
        "tools": prepared.tools if model.supports_tools else None,
        "tool_choice": prepared.tool_choice if model.supports_tools else None,
        "request_id": prepared.request_id,
    }
    return chat_stream_upstream(**kwargs) if stream else _completion_chunks(**kwargs)


async def _finalize(prepared: PreparedChat, outcome: _Outcome, *, cancelled: bool):
    """Persist the turn and settle usage exactly once; never raises."""
    if outcome.finalized is not None or prepared.settled:
        return outcome.finalized
    from usage.types import CallStatus, UsageEvent

    prepared.settled = True
    model = outcome.model or prepared.model
    content = outcome.content
    estimated = outcome.completion_tokens is None
    prompt_tokens = (
        outcome.prompt_tokens
        if outcome.prompt_tokens is not None
        else prepared.prompt_tokens_estimate
    )
    completion_tokens = (
        outcome.completion_tokens
        if outcome.completion_tokens is not None
        else ctx.estimate_tokens(content)
    )
    if outcome.unwanted:
        status = CallStatus.ERROR
        prompt_tokens, completion_tokens = 0, 0
    elif outcome.ok:
        status = CallStatus.SUCCESS
    elif content or outcome.tool_calls or (cancelled and outcome.upstream_opened):
        status = CallStatus.PARTIAL
    else:
        status = CallStatus.ERROR
        prompt_tokens, completion_tokens = 0, 0
    cost = model.cost(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    latency_ms = int((time.perf_counter() - outcome.started) * 1000)
    error_code = (
        outcome.error.code
        if outcome.error
        else ("client_cancelled" if cancelled else "")
    )

    message_id = conversation_id = None
    if prepared.persist and (content or status == CallStatus.SUCCESS):
        try:
            message_id, conversation_id = await sync_to_async(conversation_turn_save)(
                prepared=prepared,
                model=model,
                answer=content,
                reasoning="".join(outcome.reasoning),
                status={
                    CallStatus.SUCCESS: MessageStatus.COMPLETE,
                    CallStatus.PARTIAL: MessageStatus.PARTIAL,
                }.get(status, MessageStatus.ERROR),
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
        except Exception:
            logger.exception(
                "Could not store the conversation turn",
                extra={"requestId": prepared.request_id},
            )
    quota = prepared.reservation.quota
    try:
        settled = await _usage().usage_settle(
            reservation=prepared.reservation,
            event=UsageEvent(
                request_id=prepared.request_id,
                user_id=prepared.user_id,
                endpoint=prepared.endpoint,
                model=model.model_id,
                provider=model.provider,
                status=status,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost=cost,
                currency=model.currency,
                latency_ms=latency_ms,
                api_key_id=prepared.api_key_id,
                error_code=error_code,
                estimated=estimated,
            ),
        )
        quota = settled if settled is not None else quota
    except Exception:
        logger.exception(
            "Could not settle usage", extra={"requestId": prepared.request_id}
        )
    logger.info(
        "AI chat %s",
        status,
        extra={
            "model": model.model_id,
            "provider": model.provider,
            "endpoint": prepared.endpoint,
            "status": str(status),
            "tokens": prompt_tokens + completion_tokens,
            "promptTokens": prompt_tokens,
            "completionTokens": completion_tokens,
            "cost": str(cost),
            "latencyMs": latency_ms,
            "estimated": estimated,
            "errorCode": error_code,
        },
    )
    outcome.finalized = _Final(
        usage=ChatUsage(
            prompt_tokens, completion_tokens, cost, model.currency, estimated
        ),
        message_id=message_id,
        conversation_id=conversation_id or prepared.conversation_id,
        quota=quota,
    )
    return outcome.finalized


async def _still_wanted_check(prepared: PreparedChat, outcome: _Outcome) -> None:
    """A call whose job was canceled while it ran is not charged and fails."""
    if prepared.still_wanted is None or await prepared.still_wanted():
        return
    outcome.ok, outcome.unwanted, outcome.error = False, True, JobCanceled()


async def _finalize_shielded(prepared: PreparedChat, outcome: _Outcome, **kwargs):
    """Run `_finalize` to completion even if our task is cancelled meanwhile.

    The cancellation still goes on once the bookkeeping is done: swallowing it would
    let a caller that was told to stop (a reasoning run, an agent loop) start its
    next model call.
    """
    task = asyncio.ensure_future(_finalize(prepared, outcome, **kwargs))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])  # settled first (a second cancel leaves it running)
        raise


def _accumulate_tool_calls(outcome: _Outcome, deltas: list[dict]) -> None:
    for delta in deltas:
        call = outcome.tool_calls.setdefault(
            delta["index"], {"id": None, "name": "", "arguments": ""}
        )
        call["id"] = delta.get("id") or call["id"]
        call["name"] += delta.get("name") or ""
        call["arguments"] += delta.get("arguments") or ""


def _tool_calls_list(outcome: _Outcome) -> list[dict]:
    return [
        {
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for _, call in sorted(outcome.tool_calls.items())
    ]


async def _relay(
    prepared: PreparedChat, outcome: _Outcome, *, stream: bool
) -> AsyncIterator[ChatEvent]:
    """`start` and `delta` events of the first candidate that answers (the model,
    then its fallback when the model fails before any output); a failure lands in
    `outcome.error`, never escapes."""
    upstream = None
    try:
        cancel_checkpoint()  # stopped while being admitted: no provider call
        candidates = _candidates(prepared)
        first = None
        for index, candidate in enumerate(candidates):
            outcome.model = candidate
            upstream = _model_call(prepared, candidate, stream=stream)
            try:
                outcome.upstream_opened = True
                first = await anext(upstream)
                break
            except _FALLBACK_ERRORS as exc:
                await upstream.aclose()
                upstream = None
                if index + 1 == len(candidates):
                    raise
                logger.warning(
                    "AI model failed before output; using its fallback",
                    extra={"model": candidate.model_id, "errorCode": exc.code},
                )
        yield ChatStart(
            model=outcome.model.model_id,
            provider=outcome.model.provider,
            conversation_id=prepared.conversation_id,
            request_id=prepared.request_id,
        )
        chunk = first
        while chunk is not None:
            if chunk.prompt_tokens is not None:
                outcome.prompt_tokens = chunk.prompt_tokens
                outcome.completion_tokens = chunk.completion_tokens
            if chunk.finish_reason:
                outcome.finish_reason = chunk.finish_reason
            if chunk.tool_calls:
                _accumulate_tool_calls(outcome, chunk.tool_calls)
            if chunk.content:
                outcome.parts.append(chunk.content)
                yield ChatDelta(content=chunk.content)
            if chunk.reasoning:
                outcome.reasoning.append(chunk.reasoning)
                yield ChatReasoning(content=chunk.reasoning)
            chunk = await anext(upstream, None)
        outcome.ok = True
    except ApplicationError as exc:
        outcome.error = exc
    finally:
        if upstream is not None:
            await upstream.aclose()


async def _run(
    prepared: PreparedChat, outcome: _Outcome, *, stream: bool
) -> AsyncIterator[ChatEvent]:
    """The relay, then `usage` + `done`, or `error`; settles exactly once.

    Closing the generator or cancelling its task closes the upstream call at once;
    the `finally` (shielded) saves the partial answer and settles it as partial.
    """
    relay = _relay(prepared, outcome, stream=stream)
    finished = False
    try:
        async for event in relay:
            yield event
        await _still_wanted_check(prepared, outcome)
        finished = True  # settled below even if cancelled meanwhile: once only
        final = await _finalize_shielded(prepared, outcome, cancelled=False)
        if final is not None and (outcome.ok or final.usage.total_tokens):
            yield ChatUsageReport(usage=final.usage)
        if outcome.error is not None:
            yield ChatFailure(
                error=_with_quota(outcome.error, final.quota if final else None),
                message_id=final.message_id if final else None,
                conversation_id=final.conversation_id if final else None,
            )
        else:
            yield ChatDone(
                message_id=final.message_id if final else None,
                conversation_id=final.conversation_id if final else None,
                finish_reason=outcome.finish_reason or "stop",
                tool_calls=_tool_calls_list(outcome),
            )
    finally:
        if not finished:
            await relay.aclose()
            await _finalize_shielded(prepared, outcome, cancelled=True)


def chat_stream(prepared: PreparedChat) -> AsyncIterator[ChatEvent]:
    """Stream an admitted chat: `start`, `delta`..., then `usage` + `done`/`error`."""
    return _run(prepared, _Outcome(), stream=True)


async def chat_complete(prepared: PreparedChat) -> ChatResult:
    """An admitted chat, not streamed; a failure is raised after usage is settled."""
    outcome = _Outcome()
    events = _run(prepared, outcome, stream=False)
    try:
        async for event in events:
            if isinstance(event, ChatFailure):
                raise event.error
    finally:
        await events.aclose()
    final = outcome.finalized
    return ChatResult(
        content=outcome.content,
        model=outcome.model.model_id,
        provider=outcome.model.provider,
        conversation_id=final.conversation_id,
        message_id=final.message_id,
        usage=final.usage,
        finish_reason=outcome.finish_reason or "stop",
        request_id=prepared.request_id,
        quota=final.quota,
        tool_calls=_tool_calls_list(outcome),
        reasoning="".join(outcome.reasoning),
    )


async def chat_release(prepared: PreparedChat) -> None:
    """Settle an admitted call that will never run (its caller went away first):
    an error, not charged."""
    await _finalize_shielded(prepared, _Outcome(), cancelled=True)


async def _stream_open(prepared: PreparedChat) -> ChatStream:
    """Start the stream; a failure before its `start` is raised, not streamed."""
    events = chat_stream(prepared)
    try:
        first = await anext(events)
        while not isinstance(first, ChatStart | ChatFailure):
            first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    if isinstance(first, ChatFailure):
        await events.aclose()
        raise _with_quota(first.error, prepared.reservation.quota)
    return ChatStream(
        start=first,
        events=_prepend(first, events),
        quota=prepared.reservation.quota,
    )


async def _prepend(
    first: ChatEvent, events: AsyncIterator[ChatEvent]
) -> AsyncIterator[ChatEvent]:
    try:
        yield first
        async for event in events:
            yield event
    finally:
        await events.aclose()
