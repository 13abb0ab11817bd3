"""Background summaries: fold old turns of a long conversation into its summary."""

from django.conf import settings
from django.db import transaction

from ai.models import Conversation, Message
from ai.types import ChatRequest
from flowmatik.errors import ApplicationError
from flowmatik.request_context import new_request_id

SUMMARY_BATCH = 10  # summarise once this many turns beyond the kept ones piled up
SUMMARY_MAX_TOKENS = 400
SUMMARY_ENDPOINT = "chat.summary"
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
    keep: int = settings.AI_SUMMARY_KEEP_MESSAGES
    now, before = conversation.message_count, conversation.message_count - added
    if now < keep + SUMMARY_BATCH:
        return False
    return (now - keep) // SUMMARY_BATCH > max(before - keep, 0) // SUMMARY_BATCH


def conversation_summarize(*, conversation_id: int) -> bool:
    """Fold the turns older than the last AI_SUMMARY_KEEP_MESSAGES into the summary.

    Idempotent: with nothing new to fold it does nothing; a provider or quota
    failure leaves the conversation as it was (old turns are then just dropped).
    """
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or not settings.AI_SUMMARY_MODEL:
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
    instructions = SUMMARY_PROMPT
    if conversation.summary:
        instructions = f"{instructions}\n\nEarlier summary: {conversation.summary}"
    transcript = "\n".join(f"{role}: {content}" for _, role, content in fold)
    # One message of the call: the oldest turns give way when it is too long.
    transcript = transcript[-settings.AI_MAX_MESSAGE_CHARS :]
    from ai.services.chat import chat_complete_sync

    try:
        result = chat_complete_sync(
            ChatRequest(
                user_id=conversation.user_id,
                endpoint=SUMMARY_ENDPOINT,
                request_id=new_request_id(),
                messages=[
                    {"role": "system", "content": instructions},
                    {"role": "user", "content": transcript},
                ],
                model=settings.AI_SUMMARY_MODEL,
                max_tokens=SUMMARY_MAX_TOKENS,
                plan_models_only=False,
            )
        )
    except ApplicationError:
        return False
    summary = result.content.strip()
    if not summary:
        return False
    with transaction.atomic():
        updated = Conversation.objects.filter(
            pk=conversation.pk, summary_upto_id=conversation.summary_upto_id
        ).update(summary=summary, summary_upto_id=fold[-1][0])
    return bool(updated)
