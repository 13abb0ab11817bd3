"""Background summaries: fold old turns of a long conversation into its summary."""

import time

from django.conf import settings
from django.db import transaction

from ai import context as ctx
from ai.models import Conversation, Message
from ai.providers.chat import chat_complete_upstream
from ai.types import ModelInfo
from flowmatik.errors import ApplicationError


def _usage():
    from usage import services as usage_services  # the usage app's seam

    return usage_services


SUMMARY_BATCH = 10  # summarise once this many turns beyond the kept ones piled up
SUMMARY_MAX_TOKENS = 400
SUMMARY_PROMPT = (
    "Summarise the conversation below for your own later reference in under 200 "
    "words. Keep facts, names, numbers, decisions and open questions."
)


def _summary_due(conversation: Conversation, *, added: int = 2) -> bool:
    """Whether the turn just saved (`added` messages) crossed a summary boundary.

    Derived from `message_count` alone (no query on the hot path): due each time
    the count passes AI_SUMMARY_KEEP_MESSAGES + n * SUMMARY_BATCH. The task itself
    decides what to fold, so a missed or repeated trigger is harmless.
    """

    if not settings.AI_SUMMARY_MODEL:
        return False
    keep = settings.AI_SUMMARY_KEEP_MESSAGES
    now, before = conversation.message_count, conversation.message_count - added
    if now < keep + SUMMARY_BATCH:
        return False
    return (now - keep) // SUMMARY_BATCH > max(before - keep, 0) // SUMMARY_BATCH


async def _summary_call(*, user_id: int, model: ModelInfo, provider, messages) -> str:
    """One metered summary call (admitted and settled like any chat)."""
    from flowmatik.request_context import new_request_id
    from usage.types import CallStatus, UsageEvent

    request_id = new_request_id()
    prompt_tokens = sum(ctx.message_tokens(m) for m in messages)
    reservation = await _usage().usage_admit(
        user_id=user_id,
        ip=None,
        prompt_tokens=prompt_tokens,
        max_tokens=SUMMARY_MAX_TOKENS,
        endpoint="chat.summary",
        api_key_id=None,
    )
    started = time.perf_counter()
    status, result, error_code = CallStatus.ERROR, None, ""
    try:
        result = await chat_complete_upstream(
            provider=provider,
            model=model.upstream_name,
            messages=messages,
            max_tokens=max(1, min(SUMMARY_MAX_TOKENS, reservation.max_tokens)),
            request_id=request_id,
        )
        status = CallStatus.SUCCESS
    except ApplicationError as exc:
        error_code = exc.code
    finally:
        used_in = (result.prompt_tokens if result else 0) or 0
        used_out = (result.completion_tokens if result else 0) or 0
        await _usage().usage_settle(
            reservation=reservation,
            event=UsageEvent(
                request_id=request_id,
                user_id=user_id,
                endpoint="chat.summary",
                model=model.model_id,
                provider=model.provider,
                status=status,
                prompt_tokens=used_in,
                completion_tokens=used_out,
                cost=model.cost(prompt_tokens=used_in, completion_tokens=used_out),
                currency=model.currency,
                latency_ms=int((time.perf_counter() - started) * 1000),
                error_code=error_code,
            ),
        )
    return (result.content if result else "").strip()


def conversation_summarize(*, conversation_id: int) -> bool:
    """Fold the turns older than the last AI_SUMMARY_KEEP_MESSAGES into the summary.

    Idempotent: with nothing new to fold it does nothing; a provider or quota
    failure leaves the conversation as it was (old turns are then just dropped).
    """
    from asgiref.sync import async_to_sync

    from ai.selectors import catalogue_get

    catalogue = catalogue_get()
    model = catalogue.models.get(settings.AI_SUMMARY_MODEL)
    provider = catalogue.providers.get(model.provider) if model else None
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or provider is None:
        return False
    covered = conversation.summary_upto_id or 0
    rows = list(
        Message.objects.filter(conversation=conversation, id__gt=covered)
        .exclude(content="")
        .order_by("id")
        .values_list("id", "role", "content")
    )
    fold = rows[: max(0, len(rows) - settings.AI_SUMMARY_KEEP_MESSAGES)]
    if not fold:
        return False
    transcript = "\n".join(f"{role}: {content}" for _, role, content in fold)
    if conversation.summary:
        transcript = f"Earlier summary: {conversation.summary}\n{transcript}"
    try:
        summary = async_to_sync(_summary_call)(
            user_id=conversation.user_id,
            model=model,
            provider=provider,
            messages=[
                {"role": "system", "content": SUMMARY_PROMPT},
                {"role": "user", "content": transcript},
            ],
        )
    except ApplicationError:
        return False
    if not summary:
        return False
    with transaction.atomic():
        updated = Conversation.objects.filter(
            pk=conversation.pk, summary_upto_id=conversation.summary_upto_id
        ).update(summary=summary, summary_upto_id=fold[-1][0])
    return bool(updated)
