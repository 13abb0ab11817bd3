"""Video jobs: submit, then one status check per task, re-scheduled with backoff.

The submit admits one request and keeps the reservation on the job; the poll that
finds the video done downloads it and settles the reservation as a success (priced
per video, or per second for per-second models); a failure, the deadline
(STUDIO_VIDEO_DEADLINE_SECONDS), a cancel or the sweeper settle it as an error, so
an unfinished video costs nothing. No worker slot ever sleeps between polls.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ai.models import AssetKind, ContentJob, JobStatus
from ai.providers import media as media_provider
from ai.services import studio
from ai.services.job_assets import asset_max_bytes, asset_store, assets_drop
from ai.services.jobs import (
    RunOutcome,
    endpoint_for,
    job_enqueue_poll,
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


def poll_delay(polls: int) -> float:
    return float(
        min(
            settings.STUDIO_VIDEO_POLL_MAX_SECONDS,
            settings.STUDIO_VIDEO_POLL_SECONDS * (2**polls),
        )
    )


def job_video_submit(job: ContentJob) -> None:
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
    delay = poll_delay(0)
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


def job_video_settle(job: ContentJob, *, ok: bool, code: str = "") -> Decimal:
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
        job_video_settle(job, ok=False, code="video_timeout")
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
            job_video_settle(job, ok=False, code=exc.code)
            job_fail(job, exc)
            return RunOutcome(JobStatus.FAILED)
        status = media_provider.VideoStatus("pending", [])
    if status.state == "pending":
        delay = poll_delay(job.polls)
        with transaction.atomic():
            ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
                lease_until=timezone.now()
                + timedelta(seconds=delay + settings.STUDIO_JOB_LEASE_SECONDS)
            )
            job_progress(job, min(90, 20 + 10 * job.polls))
            job_enqueue_poll(job.pk, job.polls, delay)
        return RunOutcome(JobStatus.RUNNING)
    if status.state == "failed" or not status.urls:
        job_video_settle(job, ok=False, code="video_failed")
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
            max_bytes=asset_max_bytes(AssetKind.VIDEO),
            content_types=("video/",),
        )
    except ApplicationError as exc:
        job_video_settle(job, ok=False, code=exc.code)
        job_fail(job, exc)
        return RunOutcome(JobStatus.FAILED)
    if not job_still_running(job.pk):
        download.file.close()
        job_video_settle(job, ok=False, code="job_canceled")
        return RunOutcome(JobStatus.CANCELED)
    asset_store(job, kind=AssetKind.VIDEO, index=0, download=download)
    cost = job_video_settle(job, ok=True)
    info = job_model_info(job)
    units = job.options.get("duration", 5) if info.price_unit == "second" else 1
    if not job_finish(job, status=JobStatus.SUCCEEDED, units=units, cost=cost):
        assets_drop(job)
        return RunOutcome(JobStatus.CANCELED)
    return RunOutcome(JobStatus.SUCCEEDED)
