"""The ReasoningEngine: plan (outline) → draft (section by section) → critique →
revise, `depth` critique/revise rounds.

Every step is one metered, non-persisting call of the chat engine (usage endpoint
`<caller's endpoint>.reasoning`), so quota and rate limits hold per step and a
failure stops the run with only the steps that ran charged. `reasoning_run` returns
each step's text and usage; the content studio stores them with the job, chat
sends them as `reasoning_step` events and in `reasoning_steps`. Depth is gated per
plan by `AI_REASONING_MAX_DEPTH`.
"""

import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings

from ai.types import ChatEvent, ChatRequest, ChatResult, ChatStream
from flowmatik.errors import InvalidInput

if TYPE_CHECKING:
    from billing.selectors import PlanInfo

STEP_PLAN, STEP_DRAFT, STEP_CRITIQUE, STEP_REVISE = (
    "plan",
    "draft",
    "critique",
    "revise",
)
ENDPOINT_SUFFIX = ".reasoning"
PLAN_INSTRUCTIONS = (
    "Reasoning step: plan. Do not write the piece yet. Write an outline of at most "
    "{sections} sections, one line per section starting with '- '."
)
DRAFT_INSTRUCTIONS = (
    "Reasoning step: draft. Write only the requested section of the piece, "
    "following the outline."
)
CRITIQUE_INSTRUCTIONS = (
    "Reasoning step: critique. List the draft's concrete problems (accuracy, "
    "structure, clarity, tone, missing points) as short bullet points. Do not "
    "rewrite it."
)
REVISE_INSTRUCTIONS = (
    "Reasoning step: revise. Rewrite the draft below into the final answer, fixing "
    "every point of the critique. Answer with the final text only."
)
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

Call = Callable[[list[dict[str, Any]], str], Awaitable[ChatResult]]
OnStep = Callable[["ReasoningStep", int], Awaitable[None]]


@dataclass(frozen=True)
class ReasoningStep(ChatEvent):
    """One finished step (also the `reasoning_step` stream event)."""

    type = "reasoning_step"
    step: str
    index: int  # 1-based, in run order
    section: int | None
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost: str
    currency: str


@dataclass(frozen=True)
class ReasoningOutcome:
    steps: list[ReasoningStep]
    content: str  # the last revision (or the draft when the last revise is left out)
    critique: str  # the last critique

    @property
    def prompt_tokens(self) -> int:
        return sum(step.prompt_tokens for step in self.steps)

    @property
    def completion_tokens(self) -> int:
        return sum(step.completion_tokens for step in self.steps)

    @property
    def cost(self) -> Decimal:
        return sum((Decimal(step.cost) for step in self.steps), Decimal("0"))

    def steps_dump(self) -> list[dict[str, Any]]:
        return [asdict(step) for step in self.steps]


def reasoning_step_count(*, depth: int, sections: int) -> int:
    return 1 + sections + 2 * depth


def reasoning_depth_check(*, plan: "PlanInfo", depth: int) -> int:
    """`depth` if the plan reaches it: 400 outside 1..3, 403 above the plan's max."""
    from accounts.errors import PlanFeatureRequired

    if not 1 <= depth <= 3:
        raise InvalidInput(
            "Reasoning depth is 1, 2 or 3.",
            details={"fields": {"reasoning": {"depth": ["Choose 1, 2 or 3."]}}},
        )
    allowed = int(settings.AI_REASONING_MAX_DEPTH.get(plan.slug, 0))
    if depth > allowed:
        raise PlanFeatureRequired(
            "Your plan does not include this reasoning depth.",
            details={"feature": "reasoning", "depth": depth, "max_depth": allowed},
        )
    return depth


def outline_sections(text: str, *, limit: int) -> list[str]:
    """The outline's sections: its list items, else its sentences (at most `limit`)."""
    lines = [m.group(1) for line in text.splitlines() if (m := _LIST_ITEM.match(line))]
    if not lines:
        lines = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    return lines[: max(1, limit)] or [text.strip() or "The whole piece"]


def _messages(system: str, user: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


async def reasoning_run(
    *,
    call: Call,
    system: str,
    final_system: str,
    prompt: str,
    depth: int,
    on_step: OnStep | None = None,
    last_revise: bool = True,
) -> ReasoningOutcome:
    """Run the steps; `call(messages, step)` is one metered model call.

    `system` leads the plan/draft/critique steps, `final_system` (the format the
    answer must take) the revisions. With `last_revise=False` the run stops after
    the last critique (chat makes the final revision its stored, streamed turn).
    `on_step(step, total)` is awaited after each step.
    """
    steps: list[ReasoningStep] = []
    total = 0

    async def run(
        step: str, messages: list[dict[str, Any]], section: int | None = None
    ) -> str:
        result = await call(messages, step)
        done = ReasoningStep(
            step=step,
            index=len(steps) + 1,
            section=section,
            content=result.content,
            model=result.model,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            cost=str(result.usage.cost),
            currency=result.usage.currency,
        )
        steps.append(done)
        if on_step is not None:
            await on_step(done, total)
        return result.content

    limit = settings.AI_REASONING_MAX_SECTIONS
    total = reasoning_step_count(depth=depth, sections=limit) - (not last_revise)
    outline = await run(
        STEP_PLAN,
        _messages(f"{system}\n\n{PLAN_INSTRUCTIONS.format(sections=limit)}", prompt),
    )
    sections = outline_sections(outline, limit=limit)
    total = reasoning_step_count(depth=depth, sections=len(sections)) - (
        not last_revise
    )
    parts = []
    for number, title in enumerate(sections, start=1):
        parts.append(
            await run(
                STEP_DRAFT,
                _messages(
                    f"{system}\n\n{DRAFT_INSTRUCTIONS}",
                    f"Task: {prompt}\n\nOutline:\n{outline}\n\n"
                    f"Write section {number}: {title}",
                ),
                section=number,
            )
        )
    draft, critique = "\n\n".join(parts), ""
    for round_number in range(1, depth + 1):
        critique = await run(
            STEP_CRITIQUE,
            _messages(
                f"{system}\n\n{CRITIQUE_INSTRUCTIONS}",
                f"Task: {prompt}\n\nDraft:\n{draft}",
            ),
        )
        if round_number == depth and not last_revise:
            break
        draft = await run(
            STEP_REVISE,
            _messages(
                f"{final_system}\n\n{REVISE_INSTRUCTIONS}",
                revise_prompt(prompt=prompt, draft=draft, critique=critique),
            ),
        )
    return ReasoningOutcome(steps=steps, content=draft, critique=critique)


def revise_prompt(*, prompt: str, draft: str, critique: str) -> str:
    return f"{prompt}\n\nDraft:\n{draft}\n\nCritique:\n{critique}"


# --- chat with reasoning -------------------------------------------------------------


async def reasoning_chat_run(
    request: ChatRequest,
    *,
    plain_run: Callable[[ChatRequest], Awaitable[ChatResult | ChatStream]],
) -> ChatResult | ChatStream:
    """A chat turn with reasoning: the steps (metered, not stored in the
    conversation), then the final revision as the conversation's normal turn
    (stored, streamed when asked) — its result carries the steps."""
    from ai import context as ctx
    from ai.selectors import aagent_resolve
    from ai.services.chat import plan_for_user

    plan = request.plan or await plan_for_user(request.user_id)
    depth = reasoning_depth_check(plan=plan, depth=request.reasoning_depth)
    system, model = ctx.DEFAULT_SYSTEM_PROMPT, request.model
    if request.system_prompt is not None:  # resolved by the agent loop already
        system = request.system_prompt
    elif request.agent:
        agent = await aagent_resolve(
            user_id=request.user_id, plan=plan, slug=request.agent
        )
        system, model = agent.system_prompt, model or agent.model or None
    step_request = ChatRequest(
        user_id=request.user_id,
        endpoint=f"{request.endpoint}{ENDPOINT_SUFFIX}",
        request_id=request.request_id,
        model=model,
        temperature=request.temperature,
        max_tokens=settings.AI_REASONING_STEP_MAX_TOKENS,
        api_key_id=request.api_key_id,
        ip=request.ip,
        plan=plan,
        still_wanted=request.still_wanted,
    )

    async def call(messages: list[dict[str, Any]], step: str) -> ChatResult:
        # step_request does not stream: chat_run answers a ChatResult
        return cast(
            ChatResult, await plain_run(replace(step_request, messages=messages))
        )

    outcome = await reasoning_run(
        call=call,
        system=system,
        final_system=system,
        prompt=request.message or "",
        depth=depth,
        last_revise=False,
    )
    final_system = (
        f"{system}\n\n{REVISE_INSTRUCTIONS}\n\n"
        f"Draft:\n{outcome.content}\n\nCritique:\n{outcome.critique}"
    )
    final = await plain_run(
        replace(
            request,
            system_prompt=final_system,
            reasoning_depth=0,
            model=model,
            plan=plan,
        )
    )
    if isinstance(final, ChatStream):
        return replace(final, events=_with_steps(final.events, outcome.steps))
    return replace(final, reasoning_steps=outcome.steps_dump())


async def _with_steps(
    events: AsyncIterator[ChatEvent], steps: list[ReasoningStep]
) -> AsyncIterator[ChatEvent]:
    """The final turn's stream with the steps after its `start` event."""
    try:
        yield await anext(events)
        for step in steps:
            yield step
        async for event in events:
            yield event
    finally:
        # chat's events are an async generator (ChatStream documents closing it)
        await cast(AsyncGenerator[ChatEvent, None], events).aclose()
