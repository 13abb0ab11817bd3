"""The ReasoningEngine: plan (outline) → draft (section by section) → critique →
revise, `depth` critique/revise rounds.

Every step is one metered, non-persisting call of the chat engine (usage endpoint
`<caller's endpoint>.reasoning`), so quota and rate limits hold per step and a
failure stops the run with only the steps that ran charged. `reasoning_run` returns
each step's text and usage; the content studio stores them with the job, chat
sends them as `reasoning_step` events and in `reasoning_steps`. Depth is gated per
plan by `AI_REASONING_MAX_DEPTH`.
"""

import asyncio
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings

from ai.types import (
    ChatEvent,
    ChatFailure,
    ChatRequest,
    ChatResult,
    ChatStart,
    ChatStream,
)
from flowmatik.cancellation import cancel_checkpoint
from flowmatik.errors import ApplicationError, InvalidInput

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


def reasoning_steps_load(dumped: Any) -> list[ReasoningStep]:
    """`steps_dump`'s output back as steps (what a job stored); [] if malformed."""
    names = {f.name for f in fields(ReasoningStep)}
    try:
        return [
            ReasoningStep(**{k: v for k, v in item.items() if k in names})
            for item in dumped or ()
        ]
    except (TypeError, AttributeError):
        return []


def reasoning_step_count(*, depth: int, sections: int) -> int:
    return 1 + sections + 2 * depth


def reasoning_depth_allowed(plan: "PlanInfo") -> int:
    """The deepest reasoning `plan` includes (`AI_REASONING_MAX_DEPTH`; 0: none)."""
    return int(settings.AI_REASONING_MAX_DEPTH.get(plan.slug, 0))


def reasoning_depth_check(*, plan: "PlanInfo", depth: int) -> int:
    """`depth` if the plan reaches it: 400 outside 1..3, 403 above the plan's max."""
    from accounts.errors import PlanFeatureRequired

    if not 1 <= depth <= 3:
        raise InvalidInput(
            "Reasoning depth is 1, 2 or 3.",
            details={"fields": {"reasoning": {"depth": ["Choose 1, 2 or 3."]}}},
        )
    allowed = reasoning_depth_allowed(plan)
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


def plan_messages(system: str, prompt: str) -> list[dict[str, Any]]:
    """The plan step's call (the first of every run)."""
    limit = settings.AI_REASONING_MAX_SECTIONS
    return _messages(f"{system}\n\n{PLAN_INSTRUCTIONS.format(sections=limit)}", prompt)


async def reasoning_run(
    *,
    call: Call,
    system: str,
    final_system: str,
    prompt: str,
    depth: int,
    on_step: OnStep | None = None,
    last_revise: bool = True,
    earlier: Sequence[ReasoningStep] = (),
) -> ReasoningOutcome:
    """Run the steps; `call(messages, step)` is one metered model call.

    `earlier` are the steps an earlier attempt of the same run finished (a job
    retried after a transient error): they are taken as they are, in order, not
    called (nor charged, nor reported to `on_step`) again.

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
        nonlocal earlier
        if len(steps) < len(earlier):
            stored = earlier[len(steps)]
            if (stored.step, stored.section) == (step, section):
                steps.append(replace(stored, index=len(steps) + 1))
                return stored.content
            earlier = ()  # an earlier run that went another way: redo from here
        cancel_checkpoint()  # stopped while the last step settled: none more
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
    outline = await run(STEP_PLAN, plan_messages(system, prompt))
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
    (stored, streamed when asked) — its result carries the steps.

    Streamed, the stream is returned once the first step is admitted (its refusal
    is still raised, a 4xx before any output) and each `reasoning_step` event is
    sent as its step finishes, then the final turn's events. Closing the stream
    mid-steps cancels the step in flight (settled as the engine settles a
    cancelled call) and runs no further step."""
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
    turn = _ChatTurn(
        request=replace(request, reasoning_depth=0, model=model, plan=plan),
        step_request=step_request,
        system=system,
        depth=depth,
        plain_run=plain_run,
    )
    if request.stream:
        return await turn.stream_open()
    outcome = await reasoning_run(
        call=turn.call,
        system=system,
        final_system=system,
        prompt=request.message or "",
        depth=depth,
        last_revise=False,
    )
    final = await plain_run(turn.final_request(outcome))
    if isinstance(final, ChatStream):  # not asked for: close it, answer complete
        await final.aclose()
        raise TypeError("a complete chat turn answered a stream")
    return replace(final, reasoning_steps=outcome.steps_dump())


@dataclass
class _ChatTurn:
    """One reasoned chat turn: its step calls, and (streamed) its live events."""

    request: ChatRequest  # the final turn, without reasoning
    step_request: ChatRequest
    system: str
    depth: int
    plain_run: Callable[[ChatRequest], Awaitable[ChatResult | ChatStream]]
    first: Any = None  # the admitted plan step (`PreparedChat`), streamed turns only

    async def call(self, messages: list[dict[str, Any]], step: str) -> ChatResult:
        if self.first is not None and step == STEP_PLAN:
            from ai.services.chat import chat_complete

            prepared, self.first = self.first, None
            return await chat_complete(prepared)
        # step_request does not stream: chat_run answers a ChatResult
        return cast(
            ChatResult,
            await self.plain_run(replace(self.step_request, messages=messages)),
        )

    def final_request(self, outcome: ReasoningOutcome) -> ChatRequest:
        final_system = (
            f"{self.system}\n\n{REVISE_INSTRUCTIONS}\n\n"
            f"Draft:\n{outcome.content}\n\nCritique:\n{outcome.critique}"
        )
        return replace(self.request, system_prompt=final_system)

    async def stream_open(self) -> ChatStream:
        from ai.services.chat import chat_prepare

        prompt = self.request.message or ""
        # The plan step is admitted here, so a refusal is an error, not a stream.
        self.first = await chat_prepare(
            replace(self.step_request, messages=plan_messages(self.system, prompt))
        )
        start = ChatStart(
            model=self.first.model.model_id,
            provider=self.first.model.provider,
            conversation_id=self.request.conversation_id,
            request_id=self.request.request_id,
        )
        return ChatStream(
            start=start,
            events=self._events(start, prompt),
            quota=self.first.reservation.quota,
        )

    async def _events(
        self, start: ChatStart, prompt: str
    ) -> AsyncGenerator[ChatEvent, None]:
        """`start`, each step as it finishes, then the final turn's events."""
        finished: asyncio.Queue[ReasoningStep | None] = asyncio.Queue()

        async def on_step(step: ReasoningStep, total: int) -> None:
            finished.put_nowait(step)

        steps = asyncio.ensure_future(
            reasoning_run(
                call=self.call,
                system=self.system,
                final_system=self.system,
                prompt=prompt,
                depth=self.depth,
                on_step=on_step,
                last_revise=False,
            )
        )
        steps.add_done_callback(lambda _: finished.put_nowait(None))
        final: ChatStream | None = None
        try:
            yield start
            while (step := await finished.get()) is not None:
                yield step
            try:
                final = cast(
                    ChatStream,
                    await self.plain_run(self.final_request(steps.result())),
                )
            except ApplicationError as exc:
                yield ChatFailure(error=exc)
                return
            async for event in final.events:
                if not isinstance(event, ChatStart):  # ours was sent first
                    yield event
        finally:
            if not steps.done():  # closed mid-steps: stop the step in flight
                steps.cancel()
            await asyncio.wait([steps])
            if self.first is not None:  # the plan step never ran
                from ai.services.chat import chat_release

                await chat_release(self.first)
            if final is not None:
                await final.aclose()
