"""The portal's chat and content-studio pages (mounted at /app/).

Thin like the API: each view parses input, calls the selectors and services the API
uses, and renders. The chat reply itself streams over `/ws/chat/` from the page's
script (`static/portal/js/chat.js`); when it is done the script fetches the stored
reply rendered here (Markdown with raw HTML escaped, `flowmatik.safe_markdown`). The
studio page follows a job by fetching its panel every STUDIO_SSE_POLL_SECONDS while
it is queued or running.
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ai import asset_links, bounds, selectors
from ai.api.studio_serializers import GenerateContentInputSerializer
from ai.errors import ConversationNotFound, JobNotFound
from ai.models import ContentJob, JobStatus, Modality
from ai.portal_forms import (
    OPTION_LABELS,
    STATUS_LABELS,
    STUDIO_TYPES,
    TYPE_LABELS,
    studio_forms,
    studio_request_from_post,
)
from ai.services import (
    chat_complete_sync,
    conversation_delete,
    conversation_rename,
    jobs,
)
from ai.services.reasoning import reasoning_depth_allowed
from ai.types import ChatRequest
from billing.selectors import PlanInfo, plan_info_for_user_id
from flowmatik.errors import ApplicationError, InvalidInput
from flowmatik.request_context import new_request_id
from usage.errors import QuotaExceeded
from usage.selectors import quota_state_for_user

CONVERSATIONS_SHOWN = 50
MESSAGES_SHOWN = 200
JOBS_PER_PAGE = 20
SEARCH_MAX_CHARS = 100
TITLE_MAX_CHARS = 200


def _user_id(request: HttpRequest) -> int:
    """The signed-in user's id (every view here is behind `login_required`)."""
    return int(request.user.pk or 0)


def _plan(user_id: int) -> PlanInfo:
    return plan_info_for_user_id(user_id=user_id)


def _conversation_or_404(user_id: int, conversation_id: int):
    try:
        return selectors.conversation_get(
            user_id=user_id, conversation_id=conversation_id
        )
    except ConversationNotFound:
        raise Http404(_("This conversation does not exist.")) from None


def _job_or_404(user_id: int, job_id: int) -> ContentJob:
    try:
        return selectors.job_get(user_id=user_id, job_id=job_id)
    except JobNotFound:
        raise Http404(_("This job does not exist.")) from None


# --- chat


@login_required
@require_GET
def chat_page(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    user_id = _user_id(request)
    conversation = None
    shown: list[Any] = []
    if conversation_id is not None:
        conversation = _conversation_or_404(user_id, int(conversation_id))
        latest = selectors.conversation_messages(conversation=conversation).reverse()
        shown = list(latest[:MESSAGES_SHOWN])[::-1]
    plan = _plan(user_id)
    models = selectors.models_for_plan(
        selectors.catalogue_get(),
        plan_slug=plan.slug,
        plan_rank=plan.sort_order,
        modality=Modality.CHAT,
    )
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_CHARS]
    context = {
        "conversation": conversation,
        "chat_messages": shown,
        "conversations": selectors.conversation_list(user_id=user_id, search=search)[
            :CONVERSATIONS_SHOWN
        ],
        "search": search,
        "models": models,
        "selected_model": (
            conversation.model if conversation else settings.AI_DEFAULT_MODEL
        ),
        "agents": selectors.agent_list_for_user(user_id=user_id, plan=plan),
        "selected_agent": conversation.agent if conversation else "",
        "plan": plan,
        "quota": quota_state_for_user(user_id=user_id),
        "max_message_chars": settings.AI_MAX_MESSAGE_CHARS,
        "reasoning": _reasoning_choices(user_id, None),
    }
    return render(request, "ai/chat.html", context)


@login_required
@require_POST
def chat_rename(request: HttpRequest, conversation_id: int) -> HttpResponse:
    title = " ".join(request.POST.get("title", "").split())
    if not title or len(title) > TITLE_MAX_CHARS:
        _conversation_or_404(_user_id(request), int(conversation_id))
        messages.error(
            request,
            _("A title needs 1 to %(max)d characters.") % {"max": TITLE_MAX_CHARS},
        )
        return redirect("ai:conversation", conversation_id=conversation_id)
    try:
        conversation_rename(
            user_id=_user_id(request), conversation_id=int(conversation_id), title=title
        )
    except ConversationNotFound:
        raise Http404(_("This conversation does not exist.")) from None
    messages.success(request, _("Conversation renamed."))
    return redirect("ai:conversation", conversation_id=conversation_id)


@login_required
@require_POST
def chat_delete(request: HttpRequest, conversation_id: int) -> HttpResponse:
    try:
        conversation_delete(
            user_id=_user_id(request), conversation_id=int(conversation_id)
        )
    except ConversationNotFound:
        raise Http404(_("This conversation does not exist.")) from None
    messages.success(request, _("Conversation deleted."))
    return redirect("ai:chat")


@login_required
@require_POST
def chat_send(request: HttpRequest) -> HttpResponse:
    """The chat form without JavaScript: one complete (unstreamed) reply through
    the same chat path, then back to the conversation. The page's script streams
    over the socket instead and never posts here."""
    user_id = _user_id(request)
    raw_id = request.POST.get("conversation_id", "")
    conversation_id = int(raw_id) if raw_id.isdigit() and len(raw_id) <= 18 else None
    back = (
        redirect("ai:conversation", conversation_id=conversation_id)
        if conversation_id
        else redirect("ai:chat")
    )
    depth = request.POST.get("reasoning_depth", "") or "0"
    if depth not in ("0", "1", "2", "3"):
        messages.error(request, _("Reasoning depth is 1, 2 or 3."))
        return back
    try:
        result = chat_complete_sync(
            ChatRequest(
                user_id=user_id,
                endpoint="portal.chat",
                request_id=getattr(request, "request_id", "") or new_request_id(),
                message=bounds.message_text_check(request.POST.get("message")),
                conversation_id=conversation_id,
                model=request.POST.get("model", "")[:128] or None,
                agent=request.POST.get("agent", "")[:128] or None,
                persist=True,
                reasoning_depth=int(depth),
            )
        )
    except ConversationNotFound:
        raise Http404(_("This conversation does not exist.")) from None
    except InvalidInput:
        messages.error(
            request,
            _("Write a message of 1 to %(max)d characters.")
            % {"max": settings.AI_MAX_MESSAGE_CHARS},
        )
        return back
    except QuotaExceeded:
        messages.error(
            request,
            _(
                "You have used today's allowance on your plan. It resets at "
                "midnight UTC, or upgrade your plan on the Billing page."
            ),
        )
        return back
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return back
    return redirect("ai:conversation", conversation_id=result.conversation_id)


@login_required
@require_GET
def chat_message(
    request: HttpRequest, conversation_id: int, message_id: int
) -> HttpResponse:
    """One stored message, rendered (what the page swaps in when a reply is done)."""
    try:
        message = selectors.conversation_message_get(
            user_id=_user_id(request),
            conversation_id=int(conversation_id),
            message_id=int(message_id),
        )
    except ConversationNotFound:
        raise Http404(_("This message does not exist.")) from None
    return render(request, "ai/_message.html", {"message": message})


@login_required
@require_GET
def chat_quota(request: HttpRequest) -> HttpResponse:
    """The quota box, refreshed by the page after each reply."""
    quota = quota_state_for_user(user_id=_user_id(request))
    return render(request, "ai/_quota.html", {"quota": quota})


# --- content studio


def _form_errors(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The serializer's nested errors as (field label, message) pairs."""
    found: list[tuple[str, str]] = []
    if isinstance(errors, dict):
        for name, value in errors.items():
            if name == "options":
                found.extend(_form_errors(value, "options"))
                continue
            label = {
                "prompt": _("Brief"),
                "type": _("Format"),
                "model": _("Model"),
                "agent": _("Agent"),
                "non_field_errors": "",
            }.get(name, str(OPTION_LABELS.get(name, name)))
            found.extend((label, str(message)) for message in _flat(value))
    else:
        found.extend((prefix, str(message)) for message in _flat(errors))
    return found


def _flat(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [m for inner in value.values() for m in _flat(inner)]
    if isinstance(value, list):
        return [m for inner in value for m in _flat(inner)]
    return [str(value)]


@login_required
@require_http_methods(["GET", "POST"])
def studio_page(request: HttpRequest) -> HttpResponse:
    user_id = _user_id(request)
    errors: list[tuple[str, str]] = []
    posted: QueryDict | None = None
    if request.method == "POST":
        posted = request.POST
        serializer = GenerateContentInputSerializer(
            data=studio_request_from_post(request.POST)
        )
        if serializer.is_valid():
            data = serializer.validated_data
            try:
                job = jobs.job_create(
                    user_id=user_id,
                    job_type=data["type"],
                    prompt=data["prompt"],
                    options=data["options"],
                    agent=data.get("agent") or "",
                    model=data.get("model") or "",
                    request_id=getattr(request, "request_id", ""),
                    reasoning_depth=(data.get("reasoning") or {}).get("depth", 0),
                )
            except ApplicationError as exc:
                errors = [("", exc.message)]
            else:
                return redirect("ai:job", job_id=job.pk)
        else:
            errors = _form_errors(serializer.errors)
    job_type = request.GET.get("type", "")
    status = request.GET.get("status", "")
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_CHARS]
    history = selectors.job_list(
        user_id=user_id,
        job_type=job_type if job_type in TYPE_LABELS else "",
        status=status if status in STATUS_LABELS else "",
        search=search,
    )
    page = Paginator(history, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    selected_type = (posted or request.GET).get("type", "")
    context = {
        "forms": studio_forms(posted),
        "selected_type": selected_type
        if selected_type in STUDIO_TYPES
        else "blog_post",
        "prompt": posted.get("prompt", "") if posted else "",
        "errors": errors,
        "page": page,
        "search": search,
        "filter_type": job_type,
        "filter_status": status,
        "type_labels": TYPE_LABELS,
        "status_labels": STATUS_LABELS,
        "max_prompt_chars": settings.STUDIO_MAX_PROMPT_CHARS,
        "reasoning": _reasoning_choices(user_id, posted),
    }
    return render(request, "ai/studio.html", context, status=400 if errors else 200)


def _reasoning_choices(user_id: int, posted: QueryDict | None) -> dict[str, Any]:
    """The reasoning depths the picker offers: up to the plan's, the rest shown as
    needing an upgrade (the engine checks again)."""
    allowed = reasoning_depth_allowed(_plan(user_id))
    return {
        "allowed": allowed,
        "depths": [(depth, depth <= allowed) for depth in (1, 2, 3)],
        "selected": (posted.get("reasoning_depth", "") if posted else "") or "0",
        "text_types": " ".join(sorted(jobs.TEXT_TYPES)),
    }


def _job_context(job: ContentJob) -> dict[str, Any]:
    assets = []
    for asset in job.assets.all():
        link = asset_links.asset_link_build(asset_id=asset.pk, user_id=job.user_id)
        assets.append(
            {
                "kind": asset.content_type.split("/", 1)[0],
                "content_type": asset.content_type,
                "url": link.url,
                "download_url": link.download_url,
                "index": asset.index,
            }
        )
    return {
        "job": job,
        "assets": assets,
        "reasoning_steps": (job.result or {}).get("reasoning", {}).get("steps", []),
        "type_label": TYPE_LABELS.get(job.type, job.type),
        "status_label": STATUS_LABELS.get(job.status, job.status),
        "active": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "poll_ms": int(settings.STUDIO_SSE_POLL_SECONDS * 1000),
    }


@login_required
@require_GET
def job_page(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(_user_id(request), int(job_id))
    return render(request, "ai/studio_job.html", _job_context(job))


@login_required
@require_GET
def job_panel(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's status, progress and results (polled by the page while it runs)."""
    job = _job_or_404(_user_id(request), int(job_id))
    return render(request, "ai/_job_panel.html", _job_context(job))


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        jobs.job_cancel(user_id=_user_id(request), job_id=int(job_id))
    except JobNotFound:
        raise Http404(_("This job does not exist.")) from None
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The job was canceled."))
    return redirect("ai:job", job_id=job_id)
