"""Running content-studio jobs (the bodies of the `ai.job_*` Celery tasks).

A job is claimed by a conditional UPDATE (queued, or running with an expired lease,
→ running with a fresh lease), so a second delivery of the same task skips it and a
worker that died mid-job leaves it re-runnable (late acks redeliver; the sweeper
re-queues jobs whose lease ran out, at most STUDIO_JOB_MAX_ATTEMPTS runs). A job
canceled or deleted while it ran keeps that state: its files are dropped and its
media call is settled as an error (not charged). Transient provider errors re-queue
the job with backoff (STUDIO_TASK_MAX_RETRIES). Video is submit, then a poll task
re-scheduled with backoff until done or STUDIO_VIDEO_DEADLINE_SECONDS: no worker
slot ever sleeps.
"""

import hashlib
import logging
import random
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from ai import context as ctx
from ai import studio_formats as formats
from ai.models import AssetKind, ContentAsset, ContentJob, JobStatus, JobType
from ai.providers import media as media_provider
from ai.services import studio
from ai.services.jobs import (
    EXTENSIONS,
    TEXT_TYPES,
    agent_persona,
    asset_files_delete,
    endpoint_for,
    job_enqueue_poll,
    job_enqueue_run,
    job_fail,
    job_finish,
    job_model_info,
    job_progress,
    job_provider,
    job_push,
    job_still_running,
)
from flowmatik.errors import ApplicationError

logger = logging.getLogger("flowmatik.ai")


@dataclass(frozen=True)
class RunOutcome:
    """What the task should do next: nothing, or run again in `retry_in` seconds."""

    status: str
    retry_in: float | None = None


def _claim(job_id: int) -> ContentJob | None:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.STUDIO_JOB_LEASE_SECONDS)
    claimable = Q(status=JobStatus.QUEUED) | Q(
        status=JobStatus.RUNNING, lease_until__lt=now
    )
    updated = (
        ContentJob.objects.filter(claimable, pk=job_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            status=JobStatus.RUNNING,
            lease_until=lease,
            attempts=F("attempts") + 1,
            started_at=now,
            updated_at=now,
        )
    )
    if not updated:
        return None
    return ContentJob.objects.get(pk=job_id)


def _backoff(attempt: int) -> float:
    base = settings.STUDIO_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempt - 1))
    delay = min(settings.STUDIO_RETRY_BACKOFF_MAX_SECONDS, base)
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter


def _retry_or_fail(job: ContentJob, exc: ApplicationError) -> RunOutcome:
    if (
        studio.error_is_transient(exc)
        and job.attempts <= settings.STUDIO_TASK_MAX_RETRIES
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


def job_run(*, job_id: int) -> RunOutcome:
    """Do one job's work (the body of `ai.job_run`); safe to call twice."""
    job = _claim(job_id)
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
        elif job.type == JobType.VIDEO:
            if job.provider_task_id:  # re-run after a crash: keep polling
                job_enqueue_poll(job.pk, job.polls, 0)
                return RunOutcome(JobStatus.RUNNING)
            _video_submit(job)
        else:
            _run_media(job)
    except studio.JobCanceled:
        _assets_drop(job)
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
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "cost": Decimal("0")}

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
        )
        usage["prompt_tokens"] += result.usage.prompt_tokens
        usage["completion_tokens"] += result.usage.completion_tokens
        usage["cost"] += result.usage.cost
        job.model = result.model
        return result.content

    job_progress(job, 15)
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


def _max_bytes(kind: str) -> int:
    return {
        AssetKind.IMAGE: settings.STUDIO_IMAGE_MAX_BYTES,
        AssetKind.AUDIO: settings.STUDIO_AUDIO_MAX_BYTES,
        AssetKind.VIDEO: settings.STUDIO_VIDEO_MAX_BYTES,
    }[kind]


def _asset_store(job: ContentJob, *, kind: str, index: int, download) -> None:
    """Save a downloaded file under studio/<user>/<job>/ (once per job+kind+index)."""
    try:
        if ContentAsset.objects.filter(job=job, kind=kind, index=index).exists():
            return
        extension = EXTENSIONS.get(download.content_type, "bin")
        name = f"studio/{job.user_id}/{job.pk}/{kind}-{index}.{extension}"
        stored = default_storage.save(name, File(download.file, name=name))
        try:
            ContentAsset.objects.create(
                job=job,
                user_id=job.user_id,
                kind=kind,
                index=index,
                file=stored,
                content_type=download.content_type,
                size_bytes=download.size,
                sha256=download.sha256,
            )
        except IntegrityError:  # a concurrent run stored it first
            default_storage.delete(stored)
    finally:
        download.file.close()


def _assets_drop(job: ContentJob) -> None:
    """Remove the files of a job canceled while it ran."""
    names = list(
        ContentAsset.objects.filter(job_id=job.pk).values_list("file", flat=True)
    )
    ContentAsset.objects.filter(job_id=job.pk).delete()
    asset_files_delete(names)


def _speech_file(speech: media_provider.GeneratedSpeech):
    content_type = speech.content_type.split(";")[0].strip().lower()
    if not content_type.startswith("audio/"):
        raise ApplicationError(
            "The provider returned audio of an unexpected type.",
            code="asset_invalid_type",
            status_code=502,
        )
    if len(speech.audio) > settings.STUDIO_AUDIO_MAX_BYTES or not speech.audio:
        raise ApplicationError(
            "The generated audio is empty or larger than allowed.",
            code="asset_too_large" if speech.audio else "asset_invalid",
            status_code=502,
        )
    spool = tempfile.SpooledTemporaryFile()  # noqa: SIM115 - closed by _asset_store
    spool.write(speech.audio)
    spool.seek(0)
    return media_provider.DownloadedFile(
        spool, len(speech.audio), hashlib.sha256(speech.audio).hexdigest(), content_type
    )


def _run_media(job: ContentJob) -> None:
    info = job_model_info(job)
    provider = job_provider(info)
    options = job.options
    kind = AssetKind.IMAGE if job.type == JobType.IMAGE else AssetKind.AUDIO

    async def still_wanted() -> bool:
        return await sync_to_async(job_still_running)(job.pk)

    if job.type == JobType.IMAGE:

        async def call():
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
            files = []
            for url in made.urls[: options.get("count", 1)]:
                files.append(
                    await media_provider.asset_download(
                        url=url,
                        max_bytes=_max_bytes(kind),
                        content_types=("image/",),
                    )
                )
            return files

        def units_of(files):
            return len(files)

    else:

        async def call():
            speech = await media_provider.speech_create(
                provider=provider,
                model=info.upstream_name,
                text=job.prompt,
                voice=options.get("voice", ""),
                response_format=options.get("format", "mp3"),
                speed=options.get("speed"),
                request_id=job.request_id,
            )
            return [_speech_file(speech)]

        def units_of(files):
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
        _asset_store(job, kind=kind, index=index, download=download)
        job_progress(job, 70 + int(25 * (index + 1) / len(files)))
    if not job_finish(
        job,
        status=JobStatus.SUCCEEDED,
        units=metered.units,
        cost=metered.cost,
        currency=metered.currency,
    ):
        _assets_drop(job)


# video


def _poll_delay(polls: int) -> float:
    return min(
        settings.STUDIO_VIDEO_POLL_MAX_SECONDS,
        settings.STUDIO_VIDEO_POLL_SECONDS * (2**polls),
    )


def _video_submit(job: ContentJob) -> None:
    info = job_model_info(job)
    provider = job_provider(info)
    options = job.options
    reservation = async_to_sync(studio.media_admit)(
        user_id=job.user_id, endpoint=endpoint_for(job.type)
    )
    try:
        task_id = async_to_sync(media_provider.video_submit)(
            provider=provider,
            model=info.upstream_name,
            prompt=job.prompt,
            image_size=options["size"],
            duration=options.get("duration", 5),
            negative_prompt=options.get("negative_prompt", ""),
            seed=options.get("seed"),
            request_id=job.request_id,
        )
    except ApplicationError as exc:
        async_to_sync(studio.media_settle)(
            reservation=reservation,
            model=info,
            endpoint=endpoint_for(job.type),
            request_id=job.request_id,
            units=0,
            ok=False,
            error_code=exc.code,
        )
        raise
    now = timezone.now()
    delay = _poll_delay(0)
    with transaction.atomic():
        updated = ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            provider_task_id=task_id,
            reservation=studio.reservation_dump(reservation),
            polls=0,
            progress=Greatest(F("progress"), 15),
            deadline_at=now + timedelta(seconds=settings.STUDIO_VIDEO_DEADLINE_SECONDS),
            lease_until=now
            + timedelta(seconds=delay + settings.STUDIO_JOB_LEASE_SECONDS),
            updated_at=now,
        )
        if updated:
            job.progress = max(job.progress, 15)
            job_push(job)
            job_enqueue_poll(job.pk, 0, delay)
    if not updated:  # canceled while submitting: nothing will be collected
        async_to_sync(studio.media_settle)(
            reservation=reservation,
            model=info,
            endpoint=endpoint_for(job.type),
            request_id=job.request_id,
            units=0,
            ok=False,
            error_code="job_canceled",
        )
        raise studio.JobCanceled()


def _video_settle(job: ContentJob, *, ok: bool, code: str = "") -> Decimal:
    """Settle the held reservation once (the UPDATE that clears it decides)."""
    held = job.reservation
    if not held:
        return Decimal("0")
    taken = ContentJob.objects.filter(pk=job.pk, reservation__isnull=False).update(
        reservation=None
    )
    if not taken:
        return Decimal("0")
    info = job_model_info(job)
    units = job.options.get("duration", 5) if info.price_unit == "second" else 1
    return async_to_sync(studio.media_settle)(
        reservation=studio.reservation_load(held),
        model=info,
        endpoint=endpoint_for(job.type),
        request_id=job.request_id,
        units=units if ok else 0,
        ok=ok,
        error_code=code,
    )


def job_video_poll(*, job_id: int, polls: int) -> RunOutcome:
    """One status check of a video job (the body of `ai.job_video_poll`).

    `polls` is how many checks the job had when this one was scheduled: a
    duplicate delivery finds the count moved on and does nothing.
    """
    now = timezone.now()
    claimed = (
        ContentJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, polls=polls)
        .exclude(provider_task_id="")
        .update(
            polls=F("polls") + 1,
            lease_until=now + timedelta(seconds=settings.STUDIO_JOB_LEASE_SECONDS),
            updated_at=now,
        )
    )
    if not claimed:
        return RunOutcome("skipped")
    job = ContentJob.objects.get(pk=job_id)
    if job.deadline_at and now > job.deadline_at:
        _video_settle(job, ok=False, code="video_timeout")
        job_fail(
            job,
            ApplicationError(
                "The video was not ready before the deadline.", code="video_timeout"
            ),
        )
        return RunOutcome(JobStatus.FAILED)
    try:
        info = job_model_info(job)
        status = async_to_sync(media_provider.video_status)(
            provider=job_provider(info),
            task_id=job.provider_task_id,
            request_id=job.request_id,
        )
    except ApplicationError as exc:
        if not studio.error_is_transient(exc):
            _video_settle(job, ok=False, code=exc.code)
            job_fail(job, exc)
            return RunOutcome(JobStatus.FAILED)
        status = media_provider.VideoStatus("pending", [])
    if status.state == "pending":
        delay = _poll_delay(job.polls)
        with transaction.atomic():
            ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                lease_until=timezone.now()
                + timedelta(seconds=delay + settings.STUDIO_JOB_LEASE_SECONDS)
            )
            job_progress(job, min(90, 20 + 10 * job.polls))
            job_enqueue_poll(job.pk, job.polls, delay)
        return RunOutcome(JobStatus.RUNNING)
    if status.state == "failed" or not status.urls:
        _video_settle(job, ok=False, code="video_failed")
        job_fail(
            job,
            ApplicationError(
                f"The provider could not make the video. {status.reason}".strip(),
                code="video_failed",
            ),
        )
        return RunOutcome(JobStatus.FAILED)
    try:
        download = async_to_sync(media_provider.asset_download)(
            url=status.urls[0],
            max_bytes=_max_bytes(AssetKind.VIDEO),
            content_types=("video/",),
        )
    except ApplicationError as exc:
        _video_settle(job, ok=False, code=exc.code)
        job_fail(job, exc)
        return RunOutcome(JobStatus.FAILED)
    if not job_still_running(job.pk):
        download.file.close()
        _video_settle(job, ok=False, code="job_canceled")
        return RunOutcome(JobStatus.CANCELED)
    _asset_store(job, kind=AssetKind.VIDEO, index=0, download=download)
    cost = _video_settle(job, ok=True)
    info = job_model_info(job)
    units = job.options.get("duration", 5) if info.price_unit == "second" else 1
    if not job_finish(job, status=JobStatus.SUCCEEDED, units=units, cost=cost):
        _assets_drop(job)
        return RunOutcome(JobStatus.CANCELED)
    return RunOutcome(JobStatus.SUCCEEDED)


# --- the sweeper


def jobs_sweep(*, now=None) -> dict[str, int]:
    """Re-queue running jobs whose lease ran out (their worker died), or fail them
    past STUDIO_JOB_MAX_ATTEMPTS (`job_stalled`). Celery beat runs it."""
    now = now or timezone.now()
    requeued = failed = 0
    stale = ContentJob.objects.filter(status=JobStatus.RUNNING, lease_until__lt=now)
    for job in stale.only("pk", "attempts", "user_id", "type", "reservation", "model"):
        if job.attempts >= settings.STUDIO_JOB_MAX_ATTEMPTS:
            _video_settle(job, ok=False, code="job_stalled")
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
