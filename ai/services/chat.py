"""The ONE chat path (REST, SSE, OpenAI API, WebSocket).

`chat_prepare` resolves the model, builds the context and admits the call through
`usage.services.usage_admit`, raising before any byte is sent. `chat_stream` and
`chat_complete` call the provider and settle usage exactly once, also when the
consumer goes away mid-stream (the upstream stream is closed at once, the partial
answer saved, and the tokens generated so far settled as `partial`).
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import SynchronousOnlyOperation

from accounts.identity import Identity
from ai import context as ctx
from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ai.models import MessageStatus
from ai.providers.chat import chat_complete_upstream, chat_stream_upstream
from ai.selectors import (
    acatalogue_get,
    conversation_history,
    fallback_for,
    model_resolve,
)
from ai.services.conversations import _conversation_save_turn
from ai.types import ChatEvent, ChatResult, ChatUsage, ModelInfo, PreparedChat
from flowmatik.errors import ApplicationError, InvalidInput

logger = logging.getLogger("flowmatik.ai")

_FALLBACK_ERRORS = (ProviderError, ProviderTimeout, ProviderUnavailable)
_ROLES = {"system", "user", "assistant", "tool"}


def _usage():
    from usage import services as usage_services  # the usage app's seam

    return usage_services


def _validate_messages(messages: list) -> list[dict[str, Any]]:

    limit = settings.AI_MAX_MESSAGES
    if not messages or len(messages) > limit:
        raise InvalidInput(
            f"messages must hold 1 to {limit} items.",
            details={"fields": {"messages": ["Invalid length."]}},
        )
    clean = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidInput(
                "Each message needs a role: system, user, assistant or tool.",
                details={"fields": {f"messages[{index}]": ["Invalid message."]}},
            )
        kept = {
            k: message[k]
            for k in ("role", "content", "name", "tool_calls", "tool_call_id")
            if message.get(k) is not None
        }
        kept.setdefault("content", "")
        clean.append(kept)
    return clean


async def plan_for_user(user_id: int):
    """The user's cached plan without a thread hop when the cache has it."""
    from billing.selectors import plan_info_for_user_id

    try:  # a cache hit touches no database, so it may run on the event loop
        return plan_info_for_user_id(user_id=user_id)
    except SynchronousOnlyOperation:  # a miss needs the database: use a thread
        return await sync_to_async(plan_info_for_user_id, thread_sensitive=False)(
            user_id=user_id
        )


async def _profile(user_id: int) -> str:
    cached = cache.get(ctx.profile_cache_key(user_id))
    if cached is not None:
        return cached
    return await sync_to_async(ctx.profile_context, thread_sensitive=False)(user_id)


async def chat_prepare(
    *,
    identity: Identity,
    message: str | list[dict],
    conversation_id: int | None,
    model: str | None,
    agent: str | None,
    temperature: float | None,
    max_tokens: int | None,
    request_id: str,
    endpoint: str,
    ip: str | None,
    tools: list[dict] | None = None,
    tool_choice: Any = None,
) -> PreparedChat:
    """Resolve, build the context and admit a chat call; raises before any output.

    Raises 400 `unknown_model` / `invalid_input` / `context_too_long`, 403
    `model_not_allowed`, 404 for another user's conversation, 503 when the model's
    provider is not configured, and whatever `usage_admit` raises (429).
    """
    if temperature is not None and not 0 <= temperature <= 2:
        raise InvalidInput(
            "temperature must be between 0 and 2.",
            details={"fields": {"temperature": ["Out of range."]}},
        )
    if max_tokens is not None and not 1 <= max_tokens <= settings.AI_MAX_OUTPUT_TOKENS:
        raise InvalidInput(
            f"max_tokens must be between 1 and {settings.AI_MAX_OUTPUT_TOKENS}.",
            details={"fields": {"max_tokens": ["Out of range."]}},
        )
    plan = await plan_for_user(identity.user_id)
    catalogue = await acatalogue_get()
    info = model_resolve(
        catalogue, model_id=model, plan_slug=plan.slug, plan_rank=plan.sort_order
    )
    fallback = fallback_for(
        catalogue, model=info, plan_slug=plan.slug, plan_rank=plan.sort_order
    )
    providers = catalogue.providers

    wanted = max_tokens or settings.AI_DEFAULT_MAX_TOKENS
    wanted = min(wanted, info.max_output_tokens, max(1, info.context_window // 2))

    if isinstance(message, list):
        if conversation_id is not None:
            raise InvalidInput("Send either a conversation_id or a message list.")
        messages = _validate_messages(message)
        built = ctx.context_build_from_messages(
            messages=messages, context_window=info.context_window, max_tokens=wanted
        )
        new_message = str(messages[-1].get("content") or "")
        persist = False
    else:
        text = (message or "").strip()
        limit = settings.AI_MAX_MESSAGE_CHARS
        if not text or len(text) > limit:
            raise InvalidInput(
                f"message must be 1 to {limit} characters.",
                details={"fields": {"message": ["Invalid length."]}},
            )
        system_prompt = ctx.agent_system_prompt(agent)
        history = (
            await sync_to_async(conversation_history)(
                user_id=identity.user_id, conversation_id=conversation_id
            )
            if conversation_id is not None
            else None
        )
        built = ctx.context_build(
            system_prompt=system_prompt,
            profile=await _profile(identity.user_id),
            history=history.messages if history else [],
            summary=history.summary if history else "",
            new_message=text,
            context_window=info.context_window,
            max_tokens=wanted,
        )
        new_message = text
        persist = True

    reservation = await _usage().usage_admit(
        user_id=identity.user_id,
        ip=ip,
        prompt_tokens=built.prompt_tokens,
        max_tokens=wanted,
        endpoint=endpoint,
        api_key_id=identity.api_key_id,
    )
    return PreparedChat(
        user_id=identity.user_id,
        api_key_id=identity.api_key_id,
        request_id=request_id,
        endpoint=endpoint,
        model=info,
        fallback=fallback,
        messages=built.messages,
        new_message=new_message,
        conversation_id=conversation_id,
        persist=persist,
        agent=agent,
        temperature=temperature,
        max_tokens=max(1, min(wanted, reservation.max_tokens)),
        prompt_tokens_estimate=built.prompt_tokens,
        reservation=reservation,
        tools=tools or None,
        tool_choice=tool_choice,
        providers={
            m.provider: providers[m.provider]
            for m in (info, fallback)
            if m is not None and m.provider in providers
        },
    )


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
    upstream_opened: bool = False
    ok: bool = False
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


def _call_kwargs(prepared: PreparedChat, model: ModelInfo) -> dict[str, Any]:
    return {
        "provider": _provider_for(prepared, model),
        "model": model.upstream_name,
        "messages": prepared.messages,
        "max_tokens": prepared.max_tokens,
        "temperature": prepared.temperature,
        "tools": prepared.tools if model.supports_tools else None,
        "tool_choice": prepared.tool_choice if model.supports_tools else None,
        "request_id": prepared.request_id,
    }


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
    if outcome.ok:
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
            message_id, conversation_id = await sync_to_async(_conversation_save_turn)(
                prepared=prepared,
                model=model,
                answer=content,
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


async def _finalize_shielded(prepared: PreparedChat, outcome: _Outcome, **kwargs):
    """Run `_finalize` to completion even if our task is cancelled again."""
    task = asyncio.ensure_future(_finalize(prepared, outcome, **kwargs))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        return None


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


async def _relay(prepared: PreparedChat, outcome: _Outcome) -> AsyncIterator[ChatEvent]:
    """Provider chunks as `delta` events; failures land in `outcome.error`."""
    upstream = None
    try:
        first = None
        for index, candidate in enumerate(_candidates(prepared)):
            outcome.model = candidate
            upstream = chat_stream_upstream(**_call_kwargs(prepared, candidate))
            try:
                outcome.upstream_opened = True
                first = await upstream.__anext__()
                break
            except _FALLBACK_ERRORS as exc:
                await upstream.aclose()
                upstream = None
                if index + 1 == len(_candidates(prepared)):
                    raise
                logger.warning(
                    "AI model failed before output; using its fallback",
                    extra={"model": candidate.model_id, "errorCode": exc.code},
                )
        yield ChatEvent(
            "start",
            {
                "model": outcome.model.model_id,
                "provider": outcome.model.provider,
                "conversation_id": prepared.conversation_id,
                "request_id": prepared.request_id,
            },
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
                yield ChatEvent("delta", {"content": chunk.content})
            try:
                chunk = await upstream.__anext__()
            except StopAsyncIteration:
                chunk = None
        outcome.ok = True
    except ApplicationError as exc:
        outcome.error = exc
    finally:
        if upstream is not None:
            await upstream.aclose()


def _usage_data(final: _Final) -> dict[str, Any]:
    return {
        "prompt_tokens": final.usage.prompt_tokens,
        "completion_tokens": final.usage.completion_tokens,
        "total_tokens": final.usage.total_tokens,
        "cost": str(final.usage.cost),
        "currency": final.usage.currency,
        "estimated": final.usage.estimated,
    }


async def chat_stream(prepared: PreparedChat) -> AsyncIterator[ChatEvent]:
    """Stream an admitted chat: `start`, `delta`…, then `usage` + `done` or `error`.

    Closing the generator or cancelling its task closes the upstream stream at once;
    the `finally` (shielded) saves the partial answer and settles usage as partial.
    """
    outcome = _Outcome()
    relay = _relay(prepared, outcome)
    finished = False
    try:
        async for event in relay:
            yield event
        final = await _finalize_shielded(prepared, outcome, cancelled=False)
        finished = True
        if final is not None and (outcome.ok or final.usage.total_tokens):
            yield ChatEvent("usage", _usage_data(final))
        if outcome.error is not None:
            yield ChatEvent(
                "error",
                {
                    "code": outcome.error.code,
                    "message": outcome.error.message,
                    "status": outcome.error.status_code,
                },
            )
        else:
            yield ChatEvent(
                "done",
                {
                    "message_id": final.message_id if final else None,
                    "conversation_id": final.conversation_id if final else None,
                    "finish_reason": outcome.finish_reason or "stop",
                    "tool_calls": _tool_calls_list(outcome),
                },
            )
    finally:
        if not finished:
            await relay.aclose()
            await _finalize_shielded(prepared, outcome, cancelled=True)


async def chat_complete(prepared: PreparedChat) -> ChatResult:
    """A non-streamed chat; provider errors are raised after usage is settled."""
    outcome = _Outcome()
    completion = None
    try:
        for index, candidate in enumerate(_candidates(prepared)):
            outcome.model = candidate
            outcome.upstream_opened = True
            try:
                completion = await chat_complete_upstream(
                    **_call_kwargs(prepared, candidate)
                )
                break
            except _FALLBACK_ERRORS:
                if index + 1 == len(_candidates(prepared)):
                    raise
        outcome.parts.append(completion.content)
        outcome.prompt_tokens = completion.prompt_tokens
        outcome.completion_tokens = completion.completion_tokens
        outcome.finish_reason = completion.finish_reason
        outcome.ok = True
    except ApplicationError as exc:
        outcome.error = exc
        outcome.upstream_opened = False
    finally:
        final = await _finalize_shielded(
            prepared, outcome, cancelled=outcome.error is None and not outcome.ok
        )
    if outcome.error is not None:
        raise outcome.error
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
        tool_calls=list(completion.tool_calls),
    )
