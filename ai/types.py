"""Plain types of the AI gateway: what the chat path and its callers exchange."""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from flowmatik.errors import ApplicationError

if TYPE_CHECKING:  # billing's plain type; imported lazily to keep ai.types light
    from billing.selectors import PlanInfo


@dataclass(frozen=True)
class ProviderConfig:
    """A configured provider; `api_key` never appears in repr or logs."""

    name: str
    kind: str
    base_url: str
    api_key: str = field(repr=False, default="")
    source: str = "env"  # "env", "extra" (AI_EXTRA_PROVIDERS) or "admin"


@dataclass(frozen=True)
class ModelInfo:
    """A catalogue row as the hot path needs it (cacheable, no ORM object)."""

    model_id: str
    provider: str
    upstream_model: str
    display_name: str
    description: str
    modality: str
    context_window: int
    max_output_tokens: int
    supports_streaming_usage: bool
    supports_tools: bool
    supports_reasoning: bool
    price_unit: str
    input_price: Decimal
    output_price: Decimal
    currency: str
    min_plan: str
    fallback: str | None
    sort_order: int
    media_sizes: tuple[str, ...] = ()

    @property
    def upstream_name(self) -> str:
        return self.upstream_model or self.model_id

    def cost(
        self,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        units: Decimal | int = 0,
    ) -> Decimal:
        """The call's cost in `currency`.

        Token models price `prompt_tokens`/`completion_tokens` per 1M; every other
        unit prices `units` at `input_price`: images or videos made, seconds of
        audio/video, or UTF-8 bytes of input (per 1M) for `1M_utf8_bytes`.
        """
        if self.price_unit == "1M_tokens":
            total = (
                self.input_price * prompt_tokens + self.output_price * completion_tokens
            ) / Decimal(1_000_000)
        elif self.price_unit == "1M_utf8_bytes":
            total = self.input_price * Decimal(units) / Decimal(1_000_000)
        else:
            total = self.input_price * Decimal(units)
        return total.quantize(Decimal("0.000001"))


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    """One chat call as every caller asks for it (REST, /v1, WebSocket, tasks).

    Give `message` (a new user turn: the agent's system prompt, the user's profile
    and the conversation's history are added) or `messages` (the whole context, as
    the OpenAI API sends it), never both. `persist` stores the turn in a
    conversation (only with `message`). `stream` picks what `chat_run` returns.
    `plan` is the caller's `billing.selectors.PlanInfo` when it already has it
    (saves a lookup); `plan_models_only=False` is for calls the platform makes on
    the user's behalf with a model the operator chose (summaries): still metered.
    `agent` names an agent (`chat_run` resolves it and may run its tool loop);
    `system_prompt` is the resolved agent's prompt (set by the engine).
    `still_wanted` (a job's runner) is awaited right before each call is settled:
    False settles it as an error (not charged, not counted) and the call raises
    `ai.errors.JobCanceled`.
    """

    user_id: int
    endpoint: str  # the usage label: "chat", "openai.chat.stream", "ws.chat", ...
    request_id: str
    message: str | None = None
    messages: list[dict[str, Any]] | None = None
    conversation_id: int | None = None
    model: str | None = None
    agent: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    persist: bool = False
    stream: bool = False
    api_key_id: int | None = None
    ip: str | None = None
    plan: "PlanInfo | None" = None
    plan_models_only: bool = True
    system_prompt: str | None = None
    reasoning_depth: int = 0  # >0: the ReasoningEngine's steps before the answer
    still_wanted: Callable[[], Awaitable[bool]] | None = None


@dataclass
class PreparedChat:
    """An admitted chat call: everything `chat_stream`/`chat_complete` need."""

    user_id: int
    api_key_id: int | None
    request_id: str
    endpoint: str
    model: ModelInfo
    fallback: ModelInfo | None
    messages: list[dict[str, Any]]
    new_message: str
    conversation_id: int | None
    persist: bool  # False for the OpenAI-compatible API (stateless like OpenAI's)
    agent: str | None
    temperature: float | None
    max_tokens: int
    prompt_tokens_estimate: int
    reservation: Any  # usage.types.Reservation
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    still_wanted: Callable[[], Awaitable[bool]] | None = None
    settled: bool = False


# --- events of a streamed chat ------------------------------------------------------


@dataclass(frozen=True)
class ChatEvent:
    """Base of what a chat stream yields: one frozen subclass per kind.

    `type` names the kind on the wire (SSE `event:`, the WebSocket frame's "type");
    `as_dict()` is the frame's JSON. A new kind (the agents' `tool_call`,
    `tool_result`, `reasoning`) is a new subclass: transports render kinds they do
    not know with `as_dict()`, so they need no change to carry it.
    """

    type: ClassVar[str] = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            **{f.name: getattr(self, f.name) for f in fields(self)},
        }


@dataclass(frozen=True)
class ChatStart(ChatEvent):
    """The model answered: which one (the fallback, when the first failed)."""

    type: ClassVar[str] = "start"
    model: str
    provider: str
    conversation_id: int | None
    request_id: str


@dataclass(frozen=True)
class ChatDelta(ChatEvent):
    type: ClassVar[str] = "delta"
    content: str


@dataclass(frozen=True)
class ChatUsageReport(ChatEvent):
    """What the call was settled at (also after a failure that used tokens)."""

    type: ClassVar[str] = "usage"
    usage: "ChatUsage"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.usage.as_dict()}


@dataclass(frozen=True)
class ChatDone(ChatEvent):
    type: ClassVar[str] = "done"
    message_id: int | None
    conversation_id: int | None
    finish_reason: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ChatReasoning(ChatEvent):
    """What a reasoning model thinks before answering (never part of `content`)."""

    type: ClassVar[str] = "reasoning"
    content: str


@dataclass(frozen=True)
class ChatToolCall(ChatEvent):
    """An agent step asked for a tool; `arguments` is the model's JSON text."""

    type: ClassVar[str] = "tool_call"
    id: str
    name: str
    arguments: str
    step: int


@dataclass(frozen=True)
class ChatToolResult(ChatEvent):
    """What the tool answered (an error or timeout too: `is_error`), as fed back."""

    type: ClassVar[str] = "tool_result"
    id: str
    name: str
    content: str
    is_error: bool
    step: int


@dataclass(frozen=True)
class ChatFailure(ChatEvent):
    """The call failed; `error` is the ApplicationError itself (code, status...).

    When output had begun, the part that came was saved as a `partial` message:
    `message_id` and `conversation_id` say where (the client may never have been
    told the id of a conversation this turn created).
    """

    type: ClassVar[str] = "error"
    error: ApplicationError
    message_id: int | None = None
    conversation_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.type,
            "code": self.error.code,
            "message": self.error.message,
            "status": self.error.status_code,
        }
        if self.message_id is not None:
            data["message_id"] = self.message_id
            data["conversation_id"] = self.conversation_id
        return data


@dataclass(frozen=True)
class ChatUsage:
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    currency: str
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cost": str(self.cost),
            "currency": self.currency,
            "estimated": self.estimated,
        }


@dataclass(frozen=True)
class ChatResult:
    """A finished (non-streamed) chat call."""

    content: str
    model: str
    provider: str
    conversation_id: int | None
    message_id: int | None
    usage: ChatUsage
    finish_reason: str
    request_id: str
    quota: Any = None  # usage.types.QuotaState after settling
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str = ""
    reasoning_steps: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ProviderChunk:
    """One streamed chunk, provider-neutral."""

    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None  # set on the chunk carrying usage
    completion_tokens: int | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # deltas
    reasoning: str = ""  # `reasoning_content` of reasoning models


@dataclass(frozen=True)
class ProviderCompletion:
    content: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    reasoning: str = ""


@dataclass(frozen=True)
class AgentInfo:
    """An agent as the chat path needs it (no ORM object)."""

    slug: str
    name: str
    description: str
    language: str
    system_prompt: str
    model: str
    temperature: float | None
    tools: tuple[str, ...]
    min_plan: str
    owned: bool
    reasoning_depth: int = 0


@dataclass
class ChatStream:
    """A started streamed chat, as `chat_run` returns it.

    Its first event (`start`) was already received, so a failure before any output
    was raised as an error instead (the caller can still answer 4xx/5xx). Iterate
    `events` (the `start` included); closing it, or cancelling the task reading it,
    stops the upstream call and settles usage for what was generated.
    """

    start: ChatStart
    events: AsyncIterator[ChatEvent]
    quota: Any  # usage.types.QuotaState at admission

    async def aclose(self) -> None:
        await self.events.aclose()
