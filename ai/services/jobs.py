"""Content-studio jobs: create (gates, model, enqueue), cancel, delete, and the
progress/finish writes every run step shares (pushed live, completion notified).

Final states are written by a conditional UPDATE on `status=running`, so a job
canceled or deleted meanwhile keeps its state. Running lives in `job_runs`.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ai import context as ctx
from ai import studio_formats as formats
from ai.errors import (
    JobNotCancelable,
    JobNotFound,
    ProviderUnavailable,
    TooManyJobs,
)
from ai.models import (
    ContentJob,
    JobStatus,
    JobType,
    Modality,
)
from ai.selectors import agent_resolve, catalogue_get, model_resolve
from ai.services import studio
from ai.types import AgentInfo, ModelInfo, ProviderConfig
from flowmatik import realtime
from flowmatik.errors import ApplicationError, InvalidInput
from flowmatik.metrics import metrics_record_job

if TYPE_CHECKING:
    from billing.selectors import PlanInfo

logger = logging.getLogger("flowmatik.ai")

TEXT_TYPES = frozenset(
    {
        JobType.BLOG_POST,
        JobType.SOCIAL_POST,
        JobType.EMAIL,
        JobType.AD_COPY,
        JobType.PRODUCT_DESCRIPTION,
        JobType.VIDEO_SCRIPT,
        JobType.SEO_META,
    }
)
MEDIA: dict[str, tuple[Modality, str]] = {
    JobType.IMAGE: (Modality.IMAGE, "images"),
    JobType.AUDIO: (Modality.AUDIO, "audio"),
    JobType.VIDEO: (Modality.VIDEO, "video"),
}
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "video/x-msvideo": "avi",
}


def endpoint_for(job_type: str) -> str:
    """The usage endpoint of a job type (analytics group jobs by it)."""
    return f"studio.{job_type}"


# --- create / cancel / delete


def _plan(user_id: int) -> "PlanInfo":
    from billing.selectors import plan_info_for_user_id

    return plan_info_for_user_id(user_id=user_id)


def feature_require(*, user_id: int, feature: str) -> None:
    """403 `plan_feature_required` unless the user's plan has `feature`."""
    from accounts.errors import PlanFeatureRequired

    if feature not in _plan(user_id).features:
        raise PlanFeatureRequired(
            f"Your plan does not include {feature}.", details={"feature": feature}
        )


def media_model_resolve(
    *, user_id: int, modality: str, model_id: str | None
) -> ModelInfo:
    """The image/audio/video model a request may use (after the feature gate)."""
    plan = _plan(user_id)
    return model_resolve(
        catalogue_get(),
        model_id=model_id,
        plan_slug=plan.slug,
        plan_rank=plan.sort_order,
        modality=modality,
    )


def size_check(*, model: ModelInfo, size: str | None, field: str = "size") -> str:
    """The requested size if the model allows it (default: its first size)."""
    allowed = list(model.media_sizes)
    if not size:
        return allowed[0] if allowed else "1024x1024"
    if allowed and size not in allowed:
        raise InvalidInput(
            "This size is not available for the model.",
            details={"fields": {"options": {field: [f"Choose one of {allowed}."]}}},
        )
    return size


def agent_get(*, user_id: int, agent: str) -> AgentInfo | None:
    """The job's agent (`AgentInfo`) or None. 400 `unknown_agent` when it does not
    exist, 403 `plan_feature_required` when the plan does not reach it."""
    if not agent:
        return None
    return agent_resolve(user_id=user_id, plan=_plan(user_id), slug=agent)


def agent_persona(*, user_id: int, agent: str) -> str:
    """The system prompt text generation runs with: the agent's, or the default
    writing assistant's."""
    info = agent_get(user_id=user_id, agent=agent)
    return info.system_prompt if info else ctx.DEFAULT_SYSTEM_PROMPT


def _user_language(user_id: int) -> str:
    from accounts.models import User

    language = User.objects.filter(pk=user_id).values_list("language", flat=True)
    value = (language.first() or "en")[:2]
    return value if value in formats.LANGUAGE_NAMES else "en"


def job_create(
    *,
    user_id: int,
    job_type: str,
    prompt: str,
    options: dict[str, Any],
    agent: str = "",
    model: str = "",
    request_id: str = "",
    reasoning_depth: int = 0,
) -> ContentJob:
    """Check gates and the model, store the job (queued) and enqueue its task.

    Raises 403 `plan_feature_required` (images from Starter, audio and video from
    Pro; a reasoning depth above the plan's) before anything else, 400
    `unknown_model` / `unknown_agent` / a size the model does not offer, 403
    `model_not_allowed`, 503 when its provider is off, 429 `too_many_jobs` past
    STUDIO_MAX_ACTIVE_JOBS queued or running jobs.
    """
    language = ""
    if reasoning_depth:
        from ai.services.reasoning import reasoning_depth_check

        if job_type not in TEXT_TYPES:
            raise InvalidInput(
                "Reasoning is for text types.",
                details={"fields": {"reasoning": ["Not available for this type."]}},
            )
        reasoning_depth_check(plan=_plan(user_id), depth=reasoning_depth)
    if job_type in MEDIA:
        modality, feature = MEDIA[job_type]
        feature_require(user_id=user_id, feature=feature)
        if agent:
            raise InvalidInput(
                "Agents write text; media jobs take no agent.",
                details={"fields": {"agent": ["Not available for this type."]}},
            )
        info = media_model_resolve(
            user_id=user_id, modality=modality, model_id=model or None
        )
        if job_type in (JobType.IMAGE, JobType.VIDEO):
            options = {
                **options,
                "size": size_check(model=info, size=options.get("size")),
            }
    else:
        # The agent's model applies unless the request names one; the language is
        # the request's, else the user's.
        persona = agent_get(user_id=user_id, agent=agent)
        plan = _plan(user_id)
        if persona and persona.reasoning_depth and not reasoning_depth:
            from ai.services.reasoning import reasoning_depth_allowed

            allowed = reasoning_depth_allowed(plan)
            reasoning_depth = min(persona.reasoning_depth, allowed)
        info = model_resolve(
            catalogue_get(),
            model_id=model or (persona.model if persona else "") or None,
            plan_slug=plan.slug,
            plan_rank=plan.sort_order,
        )
        language = options.get("language") or _user_language(user_id)
        options = {**options, "language": language}
    active = ContentJob.objects.filter(user_id=user_id, status__in=ACTIVE).count()
    if active >= settings.STUDIO_MAX_ACTIVE_JOBS:
        raise TooManyJobs(
            details={"active": active, "limit": settings.STUDIO_MAX_ACTIVE_JOBS},
            retry_after=settings.STUDIO_VIDEO_POLL_SECONDS,
        )
    with transaction.atomic():
        job = ContentJob.objects.create(
            user_id=user_id,
            type=job_type,
            prompt=prompt,
            options=options,
            agent=agent or "",
            model=info.model_id,
            language=language,
            currency=info.currency,
            request_id=request_id or f"job_{uuid.uuid4().hex[:16]}",
            reasoning_depth=reasoning_depth,
        )
        job_enqueue_run(job.pk)
    return job


def job_enqueue_run(job_id: int, countdown: float | None = None) -> None:
    from ai.tasks import job_run_task

    transaction.on_commit(
        lambda: job_run_task.apply_async(
            args=[job_id], countdown=countdown, queue=settings.STUDIO_TASK_QUEUE or None
        )
    )


def job_enqueue_poll(job_id: int, polls: int, countdown: float) -> None:
    from ai.tasks import job_video_poll_task

    transaction.on_commit(
        lambda: job_video_poll_task.apply_async(
            args=[job_id, polls],
            countdown=countdown,
            queue=settings.STUDIO_TASK_QUEUE or None,
        )
    )


def _settle_held_reservation(job: ContentJob, code: str) -> None:
    """Release a video job's held reservation as an error (not charged)."""
    if not job.reservation:
        return
    taken = ContentJob.objects.filter(pk=job.pk, reservation__isnull=False).update(
        reservation=None
    )
    if not taken:
        return
    info = job_model_info(job)
    async_to_sync(studio.media_settle)(
        reservation=studio.reservation_load(job.reservation),
        model=info,
        endpoint=endpoint_for(job.type),
        request_id=job.request_id,
        units=0,
        ok=False,
        error_code=code,
    )


def job_cancel(*, user_id: int, job_id: int) -> ContentJob:
    """Cancel a queued or running job (409 once it finished; 404 if not yours).

    A queued job never runs; a running one stops at its next step, and whatever
    it was waiting for is settled as an error (a canceled job costs nothing).
    """
    job = ContentJob.objects.filter(pk=job_id, user_id=user_id).first()
    if job is None:
        raise JobNotFound()
    now = timezone.now()
    updated = ContentJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
        status=JobStatus.CANCELED, finished_at=now, lease_until=None, updated_at=now
    )
    if not updated:
        raise JobNotCancelable(details={"status": job.status})
    _settle_held_reservation(job, "job_canceled")
    job.refresh_from_db()
    job_push(job)
    return job


def job_delete(*, user_id: int, job_id: int) -> None:
    """Delete a job and its files (a running one is canceled first)."""
    job = ContentJob.objects.filter(pk=job_id, user_id=user_id).first()
    if job is None:
        raise JobNotFound()
    if job.status in ACTIVE:
        ContentJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=JobStatus.CANCELED
        )
        _settle_held_reservation(job, "job_canceled")
    names = list(job.assets.values_list("file", flat=True))
    with transaction.atomic():
        job.delete()
        transaction.on_commit(lambda: asset_files_delete(names))


def asset_files_delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a file left behind must not fail the delete
            logger.warning("Asset file not deleted", extra={"file": name})


def job_model_info(job: ContentJob) -> ModelInfo:
    info = catalogue_get().models.get(job.model)
    if info is None:
        raise ApplicationError(
            "The job's model is no longer available.",
            code="model_unavailable",
            status_code=503,
        )
    return info


def job_provider(info: ModelInfo) -> ProviderConfig:
    provider = catalogue_get().providers.get(info.provider)
    if provider is None:
        raise ProviderUnavailable(
            "This model's provider is not configured.",
            details={"provider": info.provider},
        )
    return provider


@dataclass(frozen=True)
class RunOutcome:
    """What the task should do next: nothing, or run again in `retry_in` seconds."""

    status: str
    retry_in: float | None = None


# --- progress and completion


def _event(job: ContentJob) -> dict[str, Any]:
    return {
        "type": "job.progress",
        "job_id": job.pk,
        "job_type": job.type,
        "status": job.status,
        "progress": job.progress,
    }


def job_push(job: ContentJob) -> None:
    realtime.push_to_user(user_id=job.user_id, event=_event(job))


def job_progress(job: ContentJob, progress: int) -> bool:
    """Raise the job's progress (never lowers it) and push it; False if the job is
    no longer running (canceled or deleted meanwhile)."""
    updated = ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        progress=Greatest(F("progress"), progress), updated_at=timezone.now()
    )
    if updated:
        job.progress = max(job.progress, progress)
        job_push(job)
    return bool(updated)


def job_still_running(job_id: int) -> bool:
    return ContentJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).exists()


_TITLES: dict[str, str] = {
    JobStatus.SUCCEEDED: "Your {label} is ready",
    JobStatus.FAILED: "Your {label} could not be generated",
}


def job_notify(job: ContentJob) -> None:
    from accounts.models import User
    from notifications.models import NotificationKind
    from notifications.services import notification_send

    title = _TITLES[job.status].format(label=JobType(job.type).label.lower())
    notification_send(
        user=User(pk=job.user_id),
        kind=NotificationKind.JOB_COMPLETED,
        title=title,
        body=job.error_message if job.status == JobStatus.FAILED else "",
        data={"job_id": job.pk, "job_type": job.type, "status": job.status},
        dedupe_key=f"ai.job:{job.pk}:{job.status}",
    )


def job_finish(job: ContentJob, *, status: str, **fields: Any) -> bool:
    """Write the final state once (only from running); push and notify. False when
    the job was canceled or deleted meanwhile."""
    now = timezone.now()
    with transaction.atomic():
        updated = ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=status,
            progress=100 if status == JobStatus.SUCCEEDED else F("progress"),
            finished_at=now,
            lease_until=None,
            updated_at=now,
            **fields,
        )
        if not updated:
            return False
        job.refresh_from_db()
        job_push(job)
        job_notify(job)
    started = job.started_at or job.created_at
    metrics_record_job(
        job_type=job.type,
        status=status,
        duration_seconds=max(0.0, (now - started).total_seconds()),
    )
    logger.info(
        "Content job %s",
        status,
        extra={"jobId": job.pk, "jobType": job.type, "errorCode": job.error_code},
    )
    return True


def job_fail(job: ContentJob, exc: ApplicationError) -> None:
    job_finish(
        job,
        status=JobStatus.FAILED,
        error_code=exc.code,
        error_message=exc.message[:500],
    )
