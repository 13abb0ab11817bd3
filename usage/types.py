"""Plain types at the seam between the AI gateway and usage metering.

The gateway calls `usage.services.usage_reserve(...)` before a provider call and
`usage.services.usage_settle(...)` exactly once after it (success, failure, cancel or
disconnect). These types are all the two apps share.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class CallStatus(StrEnum):
    SUCCESS = "success"  # provider answered; tokens and the request count
    PARTIAL = (
        "partial"  # stream cut (cancel/disconnect) after output began; tokens count
    )
    ERROR = "error"  # provider failed before any output; nothing counts


@dataclass(frozen=True)
class QuotaState:
    """Limits and what is left of them today (None = unlimited)."""

    limit_requests: int | None
    remaining_requests: int | None
    limit_tokens: int | None
    remaining_tokens: int | None
    reset_at: datetime  # next 00:00 UTC
    requests_used: int = 0
    tokens_used: int = 0
    tokens_reserved: int = 0  # held by calls still running


@dataclass(frozen=True)
class Reservation:
    """What `usage_reserve` admitted: one request and `tokens_reserved` tokens."""

    id: str
    user_id: int
    day: date
    tokens_reserved: int
    max_tokens: int  # the caller's max_tokens, clamped to what the allowance leaves
    quota: QuotaState
    backend: str  # "redis" or "database"
    prompt_tokens: int = 0
    endpoint: str = ""
    api_key_id: int | None = None


@dataclass(frozen=True)
class UsageEvent:
    """One AI call's outcome, produced exactly once per call by the gateway."""

    request_id: str
    user_id: int
    endpoint: str  # e.g. "chat", "chat.stream", "openai.chat", "ws.chat"
    model: str
    provider: str
    status: CallStatus
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal("0")
    currency: str = "USD"
    latency_ms: int = 0
    api_key_id: int | None = None
    error_code: str = ""
    estimated: bool = False  # token counts estimated (no usage chunk arrived)
    created_at: datetime | None = None
    extra: dict = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
