"""Celery entry points of the ai app (thin; the services are idempotent)."""

from celery import shared_task
from django.db import DatabaseError

from ai import services
from ai.services import job_runs, job_video


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


@shared_task(
    bind=True,
    name="ai.job_run",
    ignore_result=True,
    autoretry_for=(DatabaseError, OSError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def job_run_task(self, job_id: int) -> str:
    """Do a content-studio job (idempotent: a second delivery finds it claimed,
    unless it is this message again, whose first run died)."""
    return job_runs.job_run(job_id=job_id, claimant=self.request.id or "").status


@shared_task(
    name="ai.job_video_poll",
    ignore_result=True,
    autoretry_for=(DatabaseError, OSError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def job_video_poll_task(job_id: int, polls: int) -> str:
    """One status check of a video job; schedules the next one itself."""
    return job_video.job_video_poll(job_id=job_id, polls=polls).status


@shared_task(name="ai.jobs_sweep", ignore_result=True)
def jobs_sweep_task() -> dict:
    """Re-queue or fail content jobs stuck in `running` past their lease (beat)."""
    return job_runs.jobs_sweep()
