"""Plain types of the AI gateway: what the chat path and its callers exchange."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


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
    settled: bool = False


@dataclass(frozen=True)
class ChatEvent:
    """One event of a streamed chat.

    type: "start" | "delta" | "usage" | "done" | "error"
    start: model, conversation_id;  delta: content;
    usage: prompt_tokens, completion_tokens, total_tokens, cost, currency, estimated;
    done: message_id, conversation_id, finish_reason;  error: code, message.
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.data}


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


@dataclass(frozen=True)
class ProviderChunk:
    """One streamed chunk, provider-neutral."""

    content: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None  # set on the chunk carrying usage
    completion_tokens: int | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # deltas


@dataclass(frozen=True)
class ProviderCompletion:
    content: str
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


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
