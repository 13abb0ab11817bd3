"""Running content-studio jobs (the bodies of the `ai.job_*` Celery tasks).

A job is claimed by a conditional UPDATE (queued, or running with an expired lease,
→ running with a fresh lease), so a second delivery of the same task skips it and a
worker that died mid-job leaves it re-runnable: late acks redeliver the task
message, which re-claims the job it had claimed (`claimed_by`), and the sweeper
re-queues jobs whose lease ran out, at most STUDIO_JOB_MAX_ATTEMPTS runs in all. A job
canceled or deleted while it ran keeps that state: its files are dropped and the
model call it was waiting for (text or media) is settled as an error (not
charged). Transient provider errors re-queue the job with backoff
(STUDIO_TASK_MAX_RETRIES). Video polling is `job_video`.
"""

import logging
import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypedDict

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ai import context as ctx
from ai import studio_formats as formats
from ai.models import AssetKind, ContentJob, JobStatus, JobType
from ai.providers import media as media_provider
from ai.services import studio
from ai.services.job_assets import (
    asset_max_bytes,
    asset_store,
    assets_drop,
    speech_file,
)
from ai.services.job_video import job_video_settle, job_video_submit
from ai.services.jobs import (
    TEXT_TYPES,
    RunOutcome,
    agent_persona,
    endpoint_for,
    job_enqueue_poll,
    job_enqueue_run,
    job_fail,
    job_finish,
    job_model_info,
    job_progress,
    job_provider,
    job_still_running,
)
from flowmatik.errors import ApplicationError

logger = logging.getLogger("flowmatik.ai")


def _claim(job_id: int, claimant: str) -> ContentJob | None:
    """Queued, or running past its lease, or running under this very task message
    (delivered again because the run that claimed it died): claim it."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.STUDIO_JOB_LEASE_SECONDS)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimable = (Q(status=JobStatus.QUEUED) & free) | Q(
        status=JobStatus.RUNNING, lease_until__lt=now
    )
    if claimant:
        claimable |= Q(status=JobStatus.RUNNING, claimed_by=claimant)
    updated = ContentJob.objects.filter(claimable, pk=job_id).update(
        status=JobStatus.RUNNING,
        lease_until=lease,
        claimed_by=claimant,
        attempts=F("attempts") + 1,
        started_at=now,
        updated_at=now,
    )
    if not updated:
        return None
    return ContentJob.objects.get(pk=job_id)


class _JobUsage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal


def _backoff(attempt: int) -> float:
    base = settings.STUDIO_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempt - 1))
    delay: float = min(settings.STUDIO_RETRY_BACKOFF_MAX_SECONDS, base)
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter


def _retry_or_fail(job: ContentJob, exc: ApplicationError) -> RunOutcome:
    if (
        studio.error_is_transient(exc)
        and job.attempts <= settings.STUDIO_TASK_MAX_RETRIES
        and job.attempts < settings.STUDIO_JOB_MAX_ATTEMPTS
    ):
        delay = _backoff(job.attempts)
        requeued = ContentJob.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING
        ).update(status=JobStatus.QUEUED, lease_until=None, updated_at=timezone.now())
        if requeued:
            logger.warning(
                "Content job re-queued after a transient error",
                extra={"jobId": job.pk, "errorCode": exc.code, "retryIn": delay},
            )
            job_enqueue_run(job.pk, countdown=delay)
            return RunOutcome(JobStatus.QUEUED, retry_in=delay)
        return RunOutcome(JobStatus.CANCELED)
    job_fail(job, exc)
    return RunOutcome(JobStatus.FAILED)


def job_run(*, job_id: int, claimant: str = "") -> RunOutcome:
    """Do one job's work (the body of `ai.job_run`); safe to call twice.

    `claimant` is the task message's id: a redelivery of the message whose run
    died mid-job re-runs it at once instead of waiting for the lease to run out.
    """
    job = _claim(job_id, claimant)
    if job is None:
        current = ContentJob.objects.filter(pk=job_id).values_list("status", flat=True)
        return RunOutcome(current.first() or "missing")
    if job.attempts > settings.STUDIO_JOB_MAX_ATTEMPTS:
        job_fail(
            job,
            ApplicationError(
                "The job stopped responding too many times.", code="job_stalled"
            ),
        )
        return RunOutcome(JobStatus.FAILED)
    job_progress(job, 5)
    try:
        if job.type in TEXT_TYPES:
            _run_text(job)
        elif job.type == JobType.WORKFLOW:
            from ai.services.workflows import workflow_job_run

            workflow_job_run(job)
        elif job.type == JobType.VIDEO:
            if job.provider_task_id:  # re-run after a crash: keep polling
                job_enqueue_poll(job.pk, job.polls, 0)
                return RunOutcome(JobStatus.RUNNING)
            job_video_submit(job)
        else:
            _run_media(job)
    except studio.JobCanceled:
        assets_drop(job)
        return RunOutcome(JobStatus.CANCELED)
    except ApplicationError as exc:
        return _retry_or_fail(job, exc)
    job.refresh_from_db(fields=["status"])
    return RunOutcome(job.status)


# text


def _run_text(job: ContentJob) -> None:
    persona = agent_persona(user_id=job.user_id, agent=job.agent)
    profile = ctx.profile_context(job.user_id)
    options = job.options
    usage: _JobUsage = {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost": Decimal("0"),
    }

    async def still_wanted() -> bool:
        return await sync_to_async(job_still_running)(job.pk)

    def generate(*, shorter: bool) -> str:
        if not job_still_running(job.pk):
            raise studio.JobCanceled()
        system = formats.system_prompt(
            kind=job.type,
            options=options,
            language=job.language or "en",
            persona=persona,
            profile=profile,
            shorter=shorter,
        )
        result = studio.text_complete(
            user_id=job.user_id,
            model_id=job.model,
            system=system,
            prompt=job.prompt,
            max_tokens=settings.STUDIO_TEXT_MAX_TOKENS,
            endpoint=endpoint_for(job.type),
            request_id=job.request_id,
            still_wanted=still_wanted,
        )
        usage["prompt_tokens"] += result.usage.prompt_tokens
        usage["completion_tokens"] += result.usage.completion_tokens
        usage["cost"] += result.usage.cost
        job.model = result.model
        return result.content

    job_progress(job, 15)
    reasoning = None
    if job.reasoning_depth:
        from ai.services.job_reasoning import job_reasoning_run

        outcome = job_reasoning_run(job, persona=persona, profile=profile)
        usage["prompt_tokens"] += outcome.prompt_tokens
        usage["completion_tokens"] += outcome.completion_tokens
        usage["cost"] += outcome.cost
        job.model = outcome.steps[-1].model
        text = outcome.content
        reasoning = {"depth": job.reasoning_depth, "steps": outcome.steps_dump()}
    else:
        text = generate(shorter=False)
    job_progress(job, 60)
    parsed = formats.parse(job.type, text)
    notes: list[str] = []
    check = formats.length_check(job.type, options, parsed)
    if not check.ok:
        notes.append("regenerated_shorter")
        try:
            retry_text = generate(shorter=True)
            text, parsed = retry_text, formats.parse(job.type, retry_text)
        except studio.JobCanceled:
            raise
        except ApplicationError as exc:  # keep the first answer; it gets cut below
            logger.warning(
                "Shorter regeneration failed", extra={"jobId": job.pk, "code": exc.code}
            )
        job_progress(job, 85)
        if not formats.length_check(job.type, options, parsed).ok:
            parsed = formats.cut_to_limits(job.type, options, parsed)
            notes.append("cut_to_limit")
    result = {**parsed, "notes": notes}
    if reasoning:
        result["reasoning"] = reasoning
    if notes:
        result["length_limit"] = check.limit_note
    job_finish(
        job,
        status=JobStatus.SUCCEEDED,
        result_text=formats.render_text(job.type, parsed, text),
        result=result,
        model=job.model,
        prompt_tokens=usage["prompt_tokens"],
        completion_tokens=usage["completion_tokens"],
        cost=usage["cost"],
    )


# images and speech


def _run_media(job: ContentJob) -> None:
    info = job_model_info(job)
    provider = job_provider(info)
    options = job.options
    kind = AssetKind.IMAGE if job.type == JobType.IMAGE else AssetKind.AUDIO

    async def still_wanted() -> bool:
        return await sync_to_async(job_still_running)(job.pk)

    if job.type == JobType.IMAGE:

        async def call() -> list[media_provider.DownloadedFile]:
            made = await media_provider.image_generate(
                provider=provider,
                model=info.upstream_name,
                prompt=job.prompt,
                image_size=options["size"],
                batch_size=options.get("count", 1),
                seed=options.get("seed"),
                negative_prompt=options.get("negative_prompt", ""),
                request_id=job.request_id,
            )
            if not made.urls:
                raise ApplicationError(
                    "The provider returned no image.",
                    code="provider_error",
                    status_code=502,
                )
            files: list[media_provider.DownloadedFile] = []
            for url in made.urls[: options.get("count", 1)]:
                files.append(
                    await media_provider.asset_download(
                        url=url,
                        max_bytes=asset_max_bytes(kind),
                        content_types=("image/",),
                    )
                )
            return files

        def units_of(files: list[media_provider.DownloadedFile]) -> int:
            return len(files)

    else:

        async def call() -> list[media_provider.DownloadedFile]:
            speech = await media_provider.speech_create(
                provider=provider,
                model=info.upstream_name,
                text=job.prompt,
                voice=options.get("voice", ""),
                response_format=options.get("format", "mp3"),
                speed=options.get("speed"),
                request_id=job.request_id,
            )
            return [speech_file(speech)]

        def units_of(files: list[media_provider.DownloadedFile]) -> int:
            if info.price_unit == "1M_utf8_bytes":
                return len(job.prompt.encode())
            return 1

    job_progress(job, 20)
    metered = async_to_sync(studio.media_call_metered)(
        user_id=job.user_id,
        model=info,
        endpoint=endpoint_for(job.type),
        request_id=job.request_id,
        call=call,
        units_of=units_of,
        still_wanted=still_wanted,
    )
    files = metered.value
    for index, download in enumerate(files):
        asset_store(job, kind=kind, index=index, download=download)
        job_progress(job, 70 + int(25 * (index + 1) / len(files)))
    if not job_finish(
        job,
        status=JobStatus.SUCCEEDED,
        units=metered.units,
        cost=metered.cost,
        currency=metered.currency,
    ):
        assets_drop(job)


# --- the sweeper


def jobs_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-queue running jobs whose lease ran out (their worker died), or fail them
    past STUDIO_JOB_MAX_ATTEMPTS (`job_stalled`). Celery beat runs it."""
    now = now or timezone.now()
    requeued = failed = 0
    stale = ContentJob.objects.filter(status=JobStatus.RUNNING, lease_until__lt=now)
    for job in stale.only("pk", "attempts", "user_id", "type", "reservation", "model"):
        if job.attempts >= settings.STUDIO_JOB_MAX_ATTEMPTS:
            job_video_settle(job, ok=False, code="job_stalled")
            if job_finish(
                job,
                status=JobStatus.FAILED,
                error_code="job_stalled",
                error_message="The job stopped responding and was given up.",
            ):
                failed += 1
            continue
        with transaction.atomic():
            if ContentJob.objects.filter(
                pk=job.pk, status=JobStatus.RUNNING, lease_until__lt=now
            ).update(status=JobStatus.QUEUED, lease_until=None, updated_at=now):
                requeued += 1
                job_enqueue_run(job.pk)
    if requeued or failed:
        logger.warning(
            "Stale content jobs swept", extra={"requeued": requeued, "failed": failed}
        )
    return {"requeued": requeued, "failed": failed}
