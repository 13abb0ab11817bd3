"""Reads of the ai app: the cached model catalogue, conversations, provider status,
agents and the MCP servers their tools come from."""

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet

from ai.errors import (
    AgentNotFound,
    ConversationNotFound,
    JobNotFound,
    McpServerNotFound,
    ModelNotAllowed,
    PlanFeatureRequired,
    ProviderUnavailable,
    UnknownAgent,
    UnknownModel,
    WorkflowNotFound,
)
from ai.models import (
    Agent,
    AIModel,
    AIProvider,
    ContentAsset,
    ContentJob,
    Conversation,
    JobStatus,
    McpServer,
    Message,
    Modality,
    Workflow,
)
from ai.providers.circuit import circuit_status
from ai.providers.registry import known_provider_names, providers_from_settings
from ai.types import AgentInfo, ModelInfo, ProviderConfig
from flowmatik.acache import acache_get_many
from flowmatik.db_threads import in_worker_thread

if TYPE_CHECKING:
    from billing.selectors import PlanInfo

CATALOGUE_VERSION_KEY = "ai:catalogue:version"
CATALOGUE_LOCAL_SECONDS = 60
HISTORY_MAX_MESSAGES = 200


@dataclass(frozen=True)
class Catalogue:
    """Enabled models, admin provider rows and plan ranks, held per process.

    A version token in the shared cache invalidates every process's copy at once
    when staff edit a model or provider (`catalogue_invalidate`); the copy is also
    refreshed every CATALOGUE_LOCAL_SECONDS. A request costs one cache read.
    """

    version: str
    loaded_at: float
    models: dict[str, ModelInfo]
    admin_providers: tuple[ProviderConfig, ...]
    plan_rank: dict[str, int]

    @property
    def providers(self) -> dict[str, ProviderConfig]:
        return providers_from_settings(list(self.admin_providers))


_local: dict[str, Catalogue] = {}


def model_info(row: AIModel) -> ModelInfo:
    return ModelInfo(
        model_id=row.model_id,
        provider=row.provider,
        upstream_model=row.upstream_model,
        display_name=row.display_name,
        description=row.description,
        modality=row.modality,
        context_window=row.context_window,
        max_output_tokens=row.max_output_tokens,
        supports_streaming_usage=row.supports_streaming_usage,
        supports_tools=row.supports_tools,
        supports_reasoning=row.supports_reasoning,
        price_unit=row.price_unit,
        input_price=row.input_price,
        output_price=row.output_price,
        currency=row.currency,
        min_plan=row.min_plan,
        fallback=row.fallback.model_id if row.fallback is not None else None,
        sort_order=row.sort_order,
        media_sizes=tuple(row.media_sizes or ()),
    )


def _current_version() -> str:
    version = cache.get(CATALOGUE_VERSION_KEY)
    if version is None:
        cache.add(CATALOGUE_VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(CATALOGUE_VERSION_KEY) or ""
    return cast(str, version)


def _load(version: str) -> Catalogue:
    from billing.selectors import plan_list

    rows = AIModel.objects.filter(enabled=True).select_related("fallback")
    catalogue = Catalogue(
        version=version,
        loaded_at=time.monotonic(),
        models={row.model_id: model_info(row) for row in rows},
        admin_providers=tuple(
            ProviderConfig(p.name, p.kind, p.base_url, p.api_key, "admin")
            for p in AIProvider.objects.filter(enabled=True)
        ),
        plan_rank={p.slug: p.sort_order for p in plan_list(active_only=False)},
    )
    _local["catalogue"] = catalogue
    return catalogue


def _fresh(version: str) -> Catalogue | None:
    local = _local.get("catalogue")
    if (
        local is not None
        and local.version == version
        and time.monotonic() - local.loaded_at < CATALOGUE_LOCAL_SECONDS
    ):
        return local
    return None


def catalogue_get() -> Catalogue:
    version = _current_version()
    return _fresh(version) or _load(version)


async def acatalogue_get() -> Catalogue:
    """The catalogue from an async caller: its version is one non-blocking cache
    read; no thread hop unless it must load."""
    version = (await acache_get_many([CATALOGUE_VERSION_KEY])).get(
        CATALOGUE_VERSION_KEY
    )
    if version is None:
        version = await sync_to_async(_current_version, thread_sensitive=False)()
    return _fresh(version) or await sync_to_async(_load)(version)


def hot_path_read_ahead_keys() -> list[str]:
    """The cache keys an AI call reads after authentication that are known before
    it: the catalogue's version and the circuit state of each provider of this
    process's catalogue (`flowmatik.acache.acache_read_ahead`)."""
    from ai.providers.circuit import circuit_state_keys

    local = _local.get("catalogue")
    providers = local.providers if local is not None else {}
    return [CATALOGUE_VERSION_KEY, *circuit_state_keys(providers)]


def hot_path_user_keys(user_id: int) -> list[str]:
    """The cache keys an AI call reads that depend on the caller (its quota
    override), read with its plan once authentication knows the caller."""
    from usage.daily_limits import override_cache_keys

    return override_cache_keys(user_id=user_id)


def catalogue_invalidate() -> None:
    """Call after staff change models or providers: every process reloads."""
    cache.set(CATALOGUE_VERSION_KEY, uuid.uuid4().hex, None)
    _local.pop("catalogue", None)


def plan_allows(
    catalogue: Catalogue,
    *,
    plan_slug: str,
    plan_rank: int,
    model: ModelInfo | AgentInfo,
) -> bool:
    required = catalogue.plan_rank.get(model.min_plan)
    if required is None:  # a plan slug that does not exist: nobody qualifies
        return False
    return plan_slug == model.min_plan or plan_rank >= required


def model_resolve(
    catalogue: Catalogue,
    *,
    model_id: str | None,
    plan_slug: str,
    plan_rank: int,
    modality: str = Modality.CHAT,
) -> ModelInfo:
    """The model a request may use: 400 unknown, 403 not in plan, 503 unserved."""
    providers = catalogue.providers
    if not model_id:
        return model_default(
            catalogue, plan_slug=plan_slug, plan_rank=plan_rank, modality=modality
        )
    info = catalogue.models.get(model_id)
    if info is None or info.modality != modality:
        raise UnknownModel(f"Unknown {modality} model.", details={"model": model_id})
    if not plan_allows(catalogue, plan_slug=plan_slug, plan_rank=plan_rank, model=info):
        raise ModelNotAllowed(details={"model": model_id, "min_plan": info.min_plan})
    if info.provider not in providers:
        raise ProviderUnavailable(
            "This model's provider is not configured.",
            details={"model": model_id, "provider": info.provider},
        )
    return info


def models_for_plan(
    catalogue: Catalogue, *, plan_slug: str, plan_rank: int, modality: str | None = None
) -> list[ModelInfo]:
    """Enabled models whose provider is configured and the plan allows, in order."""
    providers = catalogue.providers
    found = [
        m
        for m in catalogue.models.values()
        if m.provider in providers
        and (modality is None or m.modality == modality)
        and plan_allows(catalogue, plan_slug=plan_slug, plan_rank=plan_rank, model=m)
    ]
    return sorted(found, key=lambda m: (m.sort_order, m.model_id))


def model_default(
    catalogue: Catalogue, *, plan_slug: str, plan_rank: int, modality: str
) -> ModelInfo:
    """AI_DEFAULT_MODEL when the plan may use it, else the plan's first model."""
    usable = models_for_plan(
        catalogue, plan_slug=plan_slug, plan_rank=plan_rank, modality=modality
    )
    if not usable:
        raise ProviderUnavailable("No AI model is available right now.")
    wanted = settings.AI_DEFAULT_MODEL
    return next((m for m in usable if m.model_id == wanted), usable[0])


def fallback_for(
    catalogue: Catalogue, *, model: ModelInfo, plan_slug: str, plan_rank: int
) -> ModelInfo | None:
    if not model.fallback:
        return None
    info = catalogue.models.get(model.fallback)
    if (
        info is None
        or info.provider not in catalogue.providers
        or not plan_allows(
            catalogue, plan_slug=plan_slug, plan_rank=plan_rank, model=info
        )
    ):
        return None
    return info


def conversation_list(*, user_id: int, search: str = "") -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(user_id=user_id)
    if search:
        conversations = conversations.filter(title__icontains=search)
    return conversations.order_by("-updated_at", "-id")


def conversation_get(*, user_id: int, conversation_id: int) -> Conversation:
    """The user's conversation; another user's is 404, like a missing one."""
    conversation = Conversation.objects.filter(
        pk=conversation_id, user_id=user_id
    ).first()
    if conversation is None:
        raise ConversationNotFound()
    return conversation


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("created_at", "id")


def conversation_message_get(
    *, user_id: int, conversation_id: int, message_id: int
) -> Message:
    """One message of the user's conversation; anything else is 404."""
    message = Message.objects.filter(
        pk=message_id,
        conversation_id=conversation_id,
        conversation__user_id=user_id,
    ).first()
    if message is None:
        raise ConversationNotFound("Message not found.")
    return message


@dataclass(frozen=True)
class ConversationHistory:
    summary: str  # of the turns before `messages` ("" when none)
    messages: list[dict[str, Any]]


def conversation_history(*, user_id: int, conversation_id: int) -> ConversationHistory:
    """The summary and the later turns as chat messages (404 if not the user's)."""
    conversation = conversation_get(user_id=user_id, conversation_id=conversation_id)
    # The user's turns and the final answers: an agent's intermediate tool calls
    # and tool results stay stored (and shown) but are not replayed as context.
    rows = (
        Message.objects.filter(conversation_id=conversation_id, tool_calls__isnull=True)
        .exclude(content="")
        .exclude(role="tool")
    )
    if conversation.summary_upto_id:
        rows = rows.filter(id__gt=conversation.summary_upto_id)
    latest = list(
        rows.order_by("-id").values_list("role", "content")[:HISTORY_MAX_MESSAGES]
    )
    return ConversationHistory(
        summary=conversation.summary if conversation.summary_upto_id else "",
        messages=[{"role": r, "content": c} for r, c in reversed(latest)],
    )


def provider_status() -> list[dict[str, Any]]:
    """Per provider: configured, circuit, last success/failure, latency, errors."""
    catalogue = catalogue_get()
    configured = catalogue.providers
    result = []
    for name in known_provider_names(configured):
        config = configured.get(name)
        result.append(
            {
                "provider": name,
                "configured": config is not None,
                "kind": config.kind if config else name,
                "models": sorted(
                    m.model_id for m in catalogue.models.values() if m.provider == name
                ),
                **circuit_status(name),
            }
        )
    return result


# --- agents and their tools' servers ------------------------------------------------


def agent_info(row: Agent) -> AgentInfo:
    return AgentInfo(
        slug=row.slug,
        name=row.name,
        description=row.description,
        language=row.language,
        system_prompt=row.system_prompt,
        model=row.model,
        temperature=row.temperature,
        tools=tuple(str(t) for t in row.tools or ()),
        min_plan=row.min_plan,
        owned=row.owner_id is not None,
        reasoning_depth=row.reasoning_depth,
    )


def _agents_visible(user_id: int) -> QuerySet[Agent]:
    return Agent.objects.filter(owner_scope__in=[0, user_id], enabled=True)


def _agent_allowed(catalogue: Catalogue, plan: "PlanInfo", agent: AgentInfo) -> bool:
    if agent.owned:
        return "workflows" in plan.features
    return plan_allows(
        catalogue, plan_slug=plan.slug, plan_rank=plan.sort_order, model=agent
    )


def agent_list_for_user(*, user_id: int, plan: "PlanInfo") -> list[AgentInfo]:
    """Public agents the plan reaches and the user's own (theirs shadow a public
    agent with the same slug); own agents need the `workflows` feature."""
    catalogue = catalogue_get()
    found: dict[str, AgentInfo] = {}
    for row in _agents_visible(user_id).order_by("owner_scope", "sort_order", "slug"):
        info = agent_info(row)
        if _agent_allowed(catalogue, plan, info):
            found[info.slug] = info
    return sorted(found.values(), key=lambda a: (not a.owned, a.slug))


def agent_get_row(*, user_id: int, slug: str) -> Agent:
    """The user's own agent row (404 for a public or another user's agent)."""
    row = Agent.objects.filter(owner_scope=user_id, slug=slug).first()
    if row is None or user_id == 0:
        raise AgentNotFound()
    return row


def agent_resolve(*, user_id: int, plan: "PlanInfo", slug: str) -> AgentInfo:
    """The agent `slug` for a chat: the user's own first, then the public one.

    400 `unknown_agent` when neither exists (or it is disabled), 403
    `plan_feature_required` when the plan does not reach it.
    """
    row = _agents_visible(user_id).filter(slug=slug).order_by("-owner_scope").first()
    if row is None:
        raise UnknownAgent(details={"agent": slug})
    info = agent_info(row)
    if not _agent_allowed(catalogue_get(), plan, info):
        raise PlanFeatureRequired(
            "Your plan does not include this agent.",
            details={
                "agent": slug,
                "feature": "workflows" if info.owned else None,
                "min_plan": None if info.owned else info.min_plan,
            },
        )
    return info


async def aagent_resolve(*, user_id: int, plan: "PlanInfo", slug: str) -> AgentInfo:
    resolve = in_worker_thread(agent_resolve, retry_dropped=True)  # a read
    return await resolve(user_id=user_id, plan=plan, slug=slug)


def agent_get_for_user(*, user_id: int, plan: "PlanInfo", slug: str) -> AgentInfo:
    """GET /api/ai/agents/{slug}: 404 when unknown, 403 above the plan."""
    try:
        return agent_resolve(user_id=user_id, plan=plan, slug=slug)
    except UnknownAgent:
        raise AgentNotFound() from None


def mcp_servers_for_user(*, user_id: int, plan: "PlanInfo") -> list[McpServer]:
    """Enabled servers the user may call: their own (with `integrations`) and staff
    servers offered to their plan (no `plans` listed = plans with `integrations`)."""
    has_integrations = "integrations" in plan.features
    usable: list[McpServer] = []
    rows = McpServer.objects.filter(owner_scope__in=[0, user_id], enabled=True)
    for row in rows.order_by("-owner_scope", "slug"):
        if row.owner_id is not None:
            allowed = has_integrations
        else:
            allowed = plan.slug in (row.plans or []) or (
                not row.plans and has_integrations
            )
        if allowed and all(s.slug != row.slug for s in usable):
            usable.append(row)
    return usable


def mcp_server_list_own(*, user_id: int) -> QuerySet[McpServer]:
    return McpServer.objects.filter(owner_scope=user_id, owner__isnull=False)


def mcp_server_get_own(*, user_id: int, slug: str) -> McpServer:
    row = mcp_server_list_own(user_id=user_id).filter(slug=slug).first()
    if row is None:
        raise McpServerNotFound()
    return row


def agent_prompts_own(*, user_id: int, slugs: list[str]) -> dict[str, str]:
    """System prompts of the user's own agents (shown only to their owner)."""
    if not slugs:
        return {}
    rows = Agent.objects.filter(
        owner_scope=user_id, owner__isnull=False, slug__in=slugs
    )
    return dict(rows.values_list("slug", "system_prompt"))


@dataclass(frozen=True)
class AgentCard:
    """An agent as the agents API shows it to one user."""

    agent: AgentInfo
    system_prompt: str | None  # the user's own agents only
    tools: list[dict[str, Any]]  # what this user's call of it may reach


def agent_cards_for_user(
    *, user_id: int, plan: "PlanInfo", agents: list[AgentInfo]
) -> list[AgentCard]:
    """`agents` with, for this user, the tools each may call (their MCP servers read
    once) and, for the user's own agents only, their system prompts."""
    from asgiref.sync import async_to_sync

    from ai.tools.registry import toolsets_for_agents

    prompts = agent_prompts_own(
        user_id=user_id, slugs=[a.slug for a in agents if a.owned]
    )
    toolsets = async_to_sync(toolsets_for_agents)(
        user_id=user_id, plan=plan, agents=agents
    )
    return [
        AgentCard(
            agent=agent,
            system_prompt=prompts.get(agent.slug) if agent.owned else None,
            tools=[spec.as_public() for spec in toolsets[agent.slug].tools.values()],
        )
        for agent in agents
    ]


# --- content studio ------------------------------------------------------------------


def job_list(
    *, user_id: int, job_type: str = "", status: str = "", search: str = ""
) -> QuerySet[ContentJob]:
    """The user's jobs, newest first, with their assets (two queries per page)."""
    jobs = ContentJob.objects.filter(user_id=user_id)
    if job_type:
        jobs = jobs.filter(type=job_type)
    if status:
        jobs = jobs.filter(status=status)
    if search:
        jobs = jobs.filter(
            Q(prompt__icontains=search) | Q(result_text__icontains=search)
        )
    return jobs.prefetch_related("assets").order_by("-created_at", "-id")


def job_get(*, user_id: int, job_id: int) -> ContentJob:
    """The user's job; another user's is 404, like a missing one."""
    job = (
        ContentJob.objects.filter(pk=job_id, user_id=user_id)
        .prefetch_related("assets")
        .first()
    )
    if job is None:
        raise JobNotFound()
    return job


class JobState(TypedDict):
    status: str
    progress: int
    updated_at: datetime


def job_state(*, user_id: int, job_id: int) -> JobState | None:
    """Status and progress only (what the event stream polls), or None."""
    return (
        ContentJob.objects.filter(pk=job_id, user_id=user_id)
        .values("status", "progress", "updated_at")
        .first()
    )


def asset_get(*, asset_id: int) -> ContentAsset:
    asset = ContentAsset.objects.filter(pk=asset_id).first()
    if asset is None:
        raise JobNotFound("Asset not found.")
    return asset


def content_job_status_counts() -> dict[str, int]:
    """Content jobs per status, every status present (admin dashboard)."""
    counts = {status.value: 0 for status in JobStatus}
    rows = ContentJob.objects.values("status").annotate(count=Count("id"))
    for row in rows.order_by("status"):
        counts[row["status"]] = row["count"]
    return counts


# --- workflows


def workflow_list_visible(*, user_id: int) -> QuerySet[Workflow]:
    """The user's workflows, then the public templates."""
    return Workflow.objects.filter(
        Q(owner_id=user_id) | Q(owner__isnull=True)
    ).order_by(F("owner_id").asc(nulls_last=True), "name", "id")


def workflow_get_visible(*, user_id: int, workflow_id: int) -> Workflow:
    """The user's workflow or a public template; anything else is 404."""
    workflow = (
        Workflow.objects.filter(pk=workflow_id)
        .filter(Q(owner_id=user_id) | Q(owner__isnull=True))
        .first()
    )
    if workflow is None:
        raise WorkflowNotFound()
    return workflow


def workflow_get_own(*, user_id: int, workflow_id: int) -> Workflow:
    """The user's own workflow (a template or another user's is 404)."""
    workflow = Workflow.objects.filter(pk=workflow_id, owner_id=user_id).first()
    if workflow is None:
        raise WorkflowNotFound()
    return workflow
