"""A text job written by the ReasoningEngine: each step a metered call, its
progress and a `job.reasoning_step` event pushed live, the steps stored with the
job as they finish (`result.reasoning`), so a failed run keeps the steps it ran and
a run retried after a transient error goes on from them (each step charged once)."""

from dataclasses import asdict, replace
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from ai import studio_formats as formats
from ai.models import ContentJob, JobStatus
from ai.services import studio
from ai.services.chat import chat_run
from ai.services.jobs import endpoint_for, job_progress, job_still_running
from ai.services.reasoning import (
    ENDPOINT_SUFFIX,
    ReasoningOutcome,
    ReasoningStep,
    reasoning_run,
    reasoning_steps_load,
)
from ai.types import ChatRequest, ChatResult
from flowmatik import realtime

# Progress the steps share (the plain path reports 15 → 60 for its one call).
PROGRESS_FROM, PROGRESS_TO = 15, 60


def _steps_store(job: ContentJob, steps: list[dict[str, Any]]) -> None:
    reasoning = {"depth": job.reasoning_depth, "steps": steps}
    ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        result={"reasoning": reasoning}
    )


def job_reasoning_run(
    job: ContentJob, *, persona: str, profile: str
) -> ReasoningOutcome:
    """Write the job's text with `job.reasoning_depth` rounds (sync: the worker).

    Steps stored by an earlier attempt (same depth) are reused, not called again.
    Raises `studio.JobCanceled` when the job stops running between steps, and
    the chat engine's errors (quota, provider) of the step that failed."""
    stored = (job.result or {}).get("reasoning") or {}
    earlier = (
        reasoning_steps_load(stored.get("steps"))
        if stored.get("depth") == job.reasoning_depth
        else []
    )
    done: list[dict[str, Any]] = [asdict(step) for step in earlier]

    async def still_wanted() -> bool:
        return await sync_to_async(job_still_running)(job.pk)

    base = ChatRequest(
        user_id=job.user_id,
        endpoint=f"{endpoint_for(job.type)}{ENDPOINT_SUFFIX}",
        request_id=job.request_id,
        model=job.model or None,
        max_tokens=settings.AI_REASONING_STEP_MAX_TOKENS,
        still_wanted=still_wanted,
    )

    async def call(messages: list[dict[str, Any]], step: str) -> ChatResult:
        if not await sync_to_async(job_still_running)(job.pk):
            raise studio.JobCanceled()
        result = await chat_run(replace(base, messages=messages))
        if not isinstance(result, ChatResult):  # `base.stream` is False: never a stream
            raise TypeError("a reasoning step is a complete call, not a stream")
        return result

    def step_done(step: ReasoningStep, total: int) -> None:
        done.append(asdict(step))
        _steps_store(job, done)
        share = (PROGRESS_TO - PROGRESS_FROM) * step.index // max(total, 1)
        job_progress(job, PROGRESS_FROM + share)
        realtime.push_to_user(
            user_id=job.user_id,
            event={
                "type": "job.reasoning_step",
                "job_id": job.pk,
                "step": step.step,
                "index": step.index,
                "total": total,
                "section": step.section,
            },
        )

    system = formats.system_prompt(
        kind=job.type,
        options=job.options,
        language=job.language or "en",
        persona=persona,
        profile=profile,
    )
    return async_to_sync(reasoning_run)(
        call=call,
        system=f"{persona}\n\n{profile}".strip(),
        final_system=system,
        prompt=job.prompt,
        depth=job.reasoning_depth,
        on_step=sync_to_async(step_done),
        earlier=earlier,
    )
