"""Celery entry points of the ai app (thin; the services are idempotent)."""

from celery import shared_task

from ai import services


@shared_task(
    name="ai.conversation_summarize",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def conversation_summarize_task(conversation_id: int) -> bool:
    """Fold a long conversation's old turns into its summary (AI_SUMMARY_MODEL)."""
    return services.conversation_summarize(conversation_id=conversation_id)
