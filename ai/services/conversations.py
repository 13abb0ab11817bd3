"""Conversation writes: rename, delete, and storing a finished chat turn."""

from django.db import transaction

from ai.errors import ConversationNotFound
from ai.models import Conversation, Message, MessageRole
from ai.selectors import conversation_get
from ai.services.summaries import _summary_due
from ai.types import ModelInfo, PreparedChat

TITLE_CHARS = 60


def conversation_rename(
    *, user_id: int, conversation_id: int, title: str
) -> Conversation:
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    conversation.title = title.strip()[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, user_id: int, conversation_id: int) -> None:
    deleted, _ = Conversation.objects.filter(
        pk=conversation_id, user_id=user_id
    ).delete()
    if not deleted:
        raise ConversationNotFound()


def conversation_turn_save(
    *,
    prepared: PreparedChat,
    model: ModelInfo,
    answer: str,
    status: str,
    reasoning: str = "",
    prompt_tokens: int,
    completion_tokens: int,
) -> tuple[int, int]:
    """Store the question and the answer; returns (message_id, conversation_id)."""
    with transaction.atomic():
        if prepared.conversation_id is None:
            conversation = Conversation.objects.create(
                user_id=prepared.user_id,
                title=" ".join(prepared.new_message.split())[:TITLE_CHARS],
                model=model.model_id,
                agent=prepared.agent or "",
                message_count=2,
            )
        else:
            conversation = Conversation.objects.select_for_update().get(
                pk=prepared.conversation_id, user_id=prepared.user_id
            )
            conversation.message_count += 2
            conversation.model = model.model_id
            conversation.save(update_fields=["message_count", "model", "updated_at"])
        Message.objects.create(
            conversation=conversation,
            role=MessageRole.USER,
            content=prepared.new_message,
            request_id=prepared.request_id,
        )
        reply = Message.objects.create(
            conversation=conversation,
            role=MessageRole.ASSISTANT,
            content=answer,
            reasoning=reasoning,
            model=model.model_id,
            status=status,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            request_id=prepared.request_id,
        )
        if _summary_due(conversation):
            from ai.tasks import conversation_summarize_task

            pk = conversation.pk
            transaction.on_commit(lambda: conversation_summarize_task.delay(pk))
    return reply.pk, conversation.pk
