"""Workflows: save, edit, copy and run pipelines of text steps (plan feature
`workflows`).

A step's prompt is a Django template rendered with autoescape off on a read-only
context of strings (`inputs.<name>`, `steps.<earlier step>`), with no loaders and
no tag libraries, and only a small allow-list of tags: no code runs, no file is
read. A run is one content job (type `workflow`) worked by the studio's Celery
task: each step is one metered call of the chat engine, its output stored as it
finishes; a failed step fails the run with its error (the steps that ran stay
charged, nothing after it runs, no retry re-charges them); a canceled run stops
before its next step.
"""

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone

from ai import context as ctx
from ai import studio_formats as formats
from ai.errors import TooManyJobs
from ai.models import ContentJob, JobStatus, JobType, Workflow
from ai.selectors import workflow_get_own, workflow_get_visible
from ai.services import studio
from ai.services.chat import chat_complete_sync
from ai.services.jobs import (
    ACTIVE,
    TEXT_TYPES,
    agent_get,
    feature_require,
    job_enqueue_run,
    job_finish,
    job_progress,
    job_still_running,
)
from ai.types import ChatRequest, ChatResult
from flowmatik import realtime
from flowmatik.errors import ApplicationError, InvalidInput

WORKFLOW_FEATURE = "workflows"
STEP_ENDPOINT = "workflow.step"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TAG = re.compile(r"{%-?\s*(\w+)")
_REFERENCE = re.compile(r"\b(inputs|steps)\.(\w+)")
SAFE_TAGS = frozenset(
    {
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "empty",
        "endfor",
        "with",
        "endwith",
        "comment",
        "endcomment",
        "firstof",
        "spaceless",
        "endspaceless",
    }
)
_ENGINE = Engine(
    dirs=[],
    app_dirs=False,
    loaders=[],
    libraries={},
    autoescape=False,
    string_if_invalid="",
)


def _field(name: str, message: str) -> InvalidInput:
    return InvalidInput(details={"fields": {name: [message]}})


def template_check(source: str, *, inputs: list[str], earlier: list[str]) -> str:
    """The error of a step prompt ('' when fine): size, syntax, tags, references."""
    if not source.strip():
        return "A prompt is required."
    if len(source) > settings.WORKFLOW_MAX_TEMPLATE_CHARS:
        return f"At most {settings.WORKFLOW_MAX_TEMPLATE_CHARS} characters."
    unsafe = sorted({tag for tag in _TAG.findall(source) if tag not in SAFE_TAGS})
    if unsafe:
        return f"Tags not allowed: {', '.join(unsafe)}."
    for scope, name in _REFERENCE.findall(source):
        if scope == "inputs" and name not in inputs:
            return f"Unknown input '{name}'."
        if scope == "steps" and name not in earlier:
            return f"'{name}' is not an earlier step."
    try:
        _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        return f"Template error: {exc}"
    return ""


def template_render(
    source: str, *, inputs: dict[str, str], outputs: dict[str, str]
) -> str:
    context = Context(
        {
            "inputs": MappingProxyType(dict(inputs)),
            "steps": MappingProxyType(dict(outputs)),
        },
        autoescape=False,
    )
    return _ENGINE.from_string(source).render(context).strip()


def _validate(*, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Names, inputs and steps checked (agents resolved for the user's plan)."""
    inputs = list(data.get("inputs") or [])
    if len(inputs) > settings.WORKFLOW_MAX_INPUTS:
        raise _field("inputs", f"At most {settings.WORKFLOW_MAX_INPUTS} inputs.")
    for name in inputs:
        if not isinstance(name, str) or not _NAME.match(name):
            raise _field("inputs", f"'{name}' is not a valid name (a-z, 0-9, _).")
    if len(set(inputs)) != len(inputs):
        raise _field("inputs", "Input names must be unique.")
    steps = data.get("steps") or []
    if not 1 <= len(steps) <= settings.WORKFLOW_MAX_STEPS:
        raise _field("steps", f"Give 1 to {settings.WORKFLOW_MAX_STEPS} steps.")
    earlier: list[str] = []
    clean = []
    for index, step in enumerate(steps):
        where: dict[str, dict[str, dict[str, list[str]]]] = {"steps": {str(index): {}}}
        name = step.get("name", "")
        if not _NAME.match(name) or name in earlier:
            where["steps"][str(index)]["name"] = ["A unique name (a-z, 0-9, _)."]
            raise InvalidInput(details={"fields": where})
        kind = step.get("type") or ""
        if kind and kind not in TEXT_TYPES:
            where["steps"][str(index)]["type"] = ["A text content type."]
            raise InvalidInput(details={"fields": where})
        agent = step.get("agent") or ""
        if agent:
            agent_get(user_id=user_id, agent=agent)  # 400 unknown_agent, 403 plan
        problem = template_check(step.get("prompt", ""), inputs=inputs, earlier=earlier)
        if problem:
            where["steps"][str(index)]["prompt"] = [problem]
            raise InvalidInput(details={"fields": where})
        clean.append(
            {"name": name, "prompt": step["prompt"], "type": kind, "agent": agent}
        )
        earlier.append(name)
    return {"inputs": inputs, "steps": clean}


def workflow_create(*, user_id: int, data: dict[str, Any]) -> Workflow:
    feature_require(user_id=user_id, feature=WORKFLOW_FEATURE)
    if Workflow.objects.filter(owner_id=user_id).count() >= (
        settings.WORKFLOW_MAX_PER_USER
    ):
        raise _field("name", f"At most {settings.WORKFLOW_MAX_PER_USER} workflows.")
    checked = _validate(user_id=user_id, data=data)
    return Workflow.objects.create(
        owner_id=user_id,
        name=data["name"],
        description=data.get("description", ""),
        **checked,
    )


def workflow_update(
    *, user_id: int, workflow_id: int, data: dict[str, Any]
) -> Workflow:
    feature_require(user_id=user_id, feature=WORKFLOW_FEATURE)
    workflow = workflow_get_own(user_id=user_id, workflow_id=workflow_id)
    merged = {
        "inputs": data.get("inputs", workflow.inputs),
        "steps": data.get("steps", workflow.steps),
    }
    if "inputs" in data or "steps" in data:
        checked = _validate(user_id=user_id, data=merged)
        workflow.inputs, workflow.steps = checked["inputs"], checked["steps"]
    for name in ("name", "description"):
        if name in data:
            setattr(workflow, name, data[name])
    workflow.save()
    return workflow


def workflow_delete(*, user_id: int, workflow_id: int) -> None:
    workflow_get_own(user_id=user_id, workflow_id=workflow_id).delete()


def workflow_copy(*, user_id: int, workflow_id: int) -> Workflow:
    """The user's own copy of a public template (or of one of their workflows)."""
    source = workflow_get_visible(user_id=user_id, workflow_id=workflow_id)
    return workflow_create(
        user_id=user_id,
        data={
            "name": source.name,
            "description": source.description,
            "inputs": source.inputs,
            "steps": source.steps,
        },
    )


def workflow_run_start(
    *, user_id: int, workflow_id: int, inputs: dict[str, Any], request_id: str = ""
) -> ContentJob:
    """Check the gate and the inputs, store the run's job (queued), enqueue it."""
    feature_require(user_id=user_id, feature=WORKFLOW_FEATURE)
    workflow = workflow_get_visible(user_id=user_id, workflow_id=workflow_id)
    unknown = sorted(set(inputs) - set(workflow.inputs))
    missing = [name for name in workflow.inputs if not str(inputs.get(name, ""))]
    if unknown or missing:
        fields = {name: ["Unknown input."] for name in unknown}
        fields |= {name: ["Required."] for name in missing}
        raise InvalidInput(details={"fields": {"inputs": fields}})
    values = {name: str(inputs[name]) for name in workflow.inputs}
    too_long = [
        n for n, v in values.items() if len(v) > settings.WORKFLOW_MAX_INPUT_CHARS
    ]
    if too_long:
        limit = settings.WORKFLOW_MAX_INPUT_CHARS
        raise InvalidInput(
            details={
                "fields": {"inputs": {n: [f"At most {limit} chars."] for n in too_long}}
            }
        )
    active = ContentJob.objects.filter(user_id=user_id, status__in=ACTIVE).count()
    if active >= settings.STUDIO_MAX_ACTIVE_JOBS:
        raise TooManyJobs(
            details={"active": active, "limit": settings.STUDIO_MAX_ACTIVE_JOBS},
            retry_after=settings.STUDIO_VIDEO_POLL_SECONDS,
        )
    with transaction.atomic():
        job = ContentJob.objects.create(
            user_id=user_id,
            type=JobType.WORKFLOW,
            prompt=workflow.name,
            options={
                "workflow_id": workflow.pk,
                "inputs": values,
                "steps": workflow.steps,  # a snapshot: edits do not change a run
            },
            request_id=request_id or f"wf_{uuid.uuid4().hex[:16]}",
        )
        job_enqueue_run(job.pk)
    return job


# --- running (the worker) -------------------------------------------------------------


@dataclass
class _Totals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal("0")
    currency: str = ""


def _step_call(
    job: ContentJob, step: dict[str, str], prompt: str, profile: str
) -> ChatResult:
    agent = agent_get(user_id=job.user_id, agent=step["agent"])

    async def still_wanted() -> bool:
        return await sync_to_async(job_still_running)(job.pk)

    if step["type"]:
        persona = agent.system_prompt if agent else ctx.DEFAULT_SYSTEM_PROMPT
        return studio.text_complete(
            user_id=job.user_id,
            model_id=(agent.model if agent else "") or "",
            system=formats.system_prompt(
                kind=step["type"],
                options={},
                language=job.language or "en",
                persona=persona,
                profile=profile,
            ),
            prompt=prompt,
            max_tokens=settings.STUDIO_TEXT_MAX_TOKENS,
            endpoint=STEP_ENDPOINT,
            request_id=job.request_id,
            still_wanted=still_wanted,
        )
    return chat_complete_sync(
        ChatRequest(
            user_id=job.user_id,
            endpoint=STEP_ENDPOINT,
            request_id=job.request_id,
            message=prompt,
            agent=step["agent"] or None,
            max_tokens=settings.STUDIO_TEXT_MAX_TOKENS,
            still_wanted=still_wanted,
        )
    )


def _usage_fields(totals: _Totals) -> dict[str, Any]:
    fields = {
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost": totals.cost,
    }
    if totals.currency:
        fields["currency"] = totals.currency
    return fields


def workflow_job_run(job: ContentJob) -> None:
    """Run the steps in order (the body of a `workflow` job; see the module)."""
    steps, inputs = job.options["steps"], job.options["inputs"]
    profile = ctx.profile_context(job.user_id)
    outputs: dict[str, str] = {}
    done: list[dict[str, Any]] = []
    totals = _Totals()
    for number, step in enumerate(steps, start=1):
        if not job_still_running(job.pk):
            raise studio.JobCanceled()
        try:
            prompt = template_render(step["prompt"], inputs=inputs, outputs=outputs)
            result = _step_call(job, step, prompt, profile)
        except studio.JobCanceled:
            raise
        except ApplicationError as exc:
            job_finish(
                job,
                status=JobStatus.FAILED,
                error_code=exc.code,
                error_message=f"Step '{step['name']}': {exc.message}"[:500],
                result={"steps": done, "failed_step": step["name"]},
                **_usage_fields(totals),
            )
            return
        outputs[step["name"]] = result.content
        totals.prompt_tokens += result.usage.prompt_tokens
        totals.completion_tokens += result.usage.completion_tokens
        totals.cost += result.usage.cost
        totals.currency = totals.currency or result.usage.currency
        done.append(
            {
                "name": step["name"],
                "output": result.content,
                "model": result.model,
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "cost": str(result.usage.cost),
                "finished_at": timezone.now().isoformat(),
            }
        )
        ContentJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            result={"steps": done}, model=result.model, **_usage_fields(totals)
        )
        job_progress(job, 5 + 90 * number // len(steps))
        realtime.push_to_user(
            user_id=job.user_id,
            event={
                "type": "job.workflow_step",
                "job_id": job.pk,
                "step": step["name"],
                "index": number,
                "total": len(steps),
            },
        )
    job_finish(
        job,
        status=JobStatus.SUCCEEDED,
        result_text=outputs[steps[-1]["name"]],
        result={"steps": done, "outputs": outputs},
        **_usage_fields(totals),
    )


def workflow_seed_defaults() -> int:
    """Create the missing public workflow templates (idempotent); `manage.py seed`."""
    from ai.seed_workflows import TEMPLATES

    created = 0
    for template in TEMPLATES:
        if Workflow.objects.filter(owner__isnull=True, slug=template["slug"]).exists():
            continue
        Workflow.objects.create(owner=None, **template)
        created += 1
    return created
