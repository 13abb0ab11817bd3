"""The content studio's model calls: text on the chat engine, metered media calls.

Text goes through the chat engine's non-persisting complete call (admit, fallback,
settle: exactly like chat). Every image, speech and video call here is admitted as
one request with no tokens and settled once, priced per unit from the catalogue
(`ModelInfo.cost(units=...)`); a call that fails, or whose job was canceled
meanwhile, is settled as an error, so it costs nothing and does not count.
"""

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ai.errors import JobCanceled as JobCanceled  # re-exported for the job runners
from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ai.services.chat import chat_complete_sync
from ai.types import ChatRequest, ChatResult, ModelInfo
from flowmatik.errors import ApplicationError
from flowmatik.overload import ai_call_admitted, ai_call_check

if TYPE_CHECKING:
    from usage.types import Reservation

logger = logging.getLogger("flowmatik.ai")


def _usage() -> ModuleType:
    from usage import services as usage_services  # the usage app's seam

    return usage_services


def error_is_transient(exc: ApplicationError) -> bool:
    """Worth retrying later: provider down/rate limiting, timeouts, 5xx answers."""
    if isinstance(exc, ProviderUnavailable | ProviderTimeout):
        return True
    if isinstance(exc, ProviderError):
        return int((exc.details or {}).get("upstream_status") or 0) >= 500
    return False


def text_complete(
    *,
    user_id: int,
    model_id: str,
    system: str,
    prompt: str,
    max_tokens: int,
    endpoint: str,
    request_id: str,
    still_wanted: Callable[[], Awaitable[bool]] | None = None,
) -> ChatResult:
    """One metered, non-persisting completion on the chat engine (sync: tasks).

    With `still_wanted`, an answer that arrives after the job was canceled is
    settled as an error (not charged, not counted) and `JobCanceled` is raised.
    """
    return chat_complete_sync(
        ChatRequest(
            user_id=user_id,
            endpoint=endpoint,
            request_id=request_id,
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ],
            model=model_id or None,
            max_tokens=max_tokens,
            persist=False,
            still_wanted=still_wanted,
        )
    )


@dataclass(frozen=True)
class MeteredResult:
    value: Any
    units: Decimal
    cost: Decimal
    currency: str


async def media_admit(
    *, user_id: int, endpoint: str, api_key_id: int | None = None, ip: str | None = None
) -> "Reservation":
    """Count one request (no tokens) against the day's quota; raises 429 if over."""
    reservation: Reservation = await _usage().usage_admit(
        user_id=user_id,
        ip=ip,
        prompt_tokens=0,
        max_tokens=0,
        endpoint=endpoint,
        api_key_id=api_key_id,
    )
    return reservation


async def media_settle(
    *,
    reservation: "Reservation",
    model: ModelInfo,
    endpoint: str,
    request_id: str,
    units: Decimal | int,
    ok: bool,
    error_code: str = "",
    started: float | None = None,
) -> Decimal:
    """Settle a media reservation once; returns the cost charged (0 unless ok)."""
    from usage.types import CallStatus, UsageEvent

    cost = model.cost(units=units) if ok else Decimal("0")
    latency = int((time.perf_counter() - started) * 1000) if started else 0
    try:
        await _usage().usage_settle(
            reservation=reservation,
            event=UsageEvent(
                request_id=request_id,
                user_id=reservation.user_id,
                endpoint=endpoint,
                model=model.model_id,
                provider=model.provider,
                status=CallStatus.SUCCESS if ok else CallStatus.ERROR,
                cost=cost,
                currency=model.currency,
                latency_ms=latency,
                api_key_id=reservation.api_key_id,
                error_code=error_code,
                extra={"units": str(units)},
            ),
        )
    except Exception:
        logger.exception(
            "Could not settle media usage", extra={"requestId": request_id}
        )
    return cost


async def media_call_metered(
    *,
    user_id: int,
    model: ModelInfo,
    endpoint: str,
    request_id: str,
    call: Callable[[], Awaitable[Any]],
    units_of: Callable[[Any], Decimal | int],
    still_wanted: Callable[[], Awaitable[bool]] | None = None,
    api_key_id: int | None = None,
    ip: str | None = None,
) -> MeteredResult:
    """Admit, run `call()`, settle: success priced at `units_of(result)` units.

    With `still_wanted`, a result that arrives after the job was canceled is
    settled as an error (not charged) and `JobCanceled` is raised.
    """
    ai_call_check()  # a process at its limit of admitted calls: 503 before the quota
    reservation = await media_admit(
        user_id=user_id, endpoint=endpoint, api_key_id=api_key_id, ip=ip
    )
    started = time.perf_counter()
    ok, error_code, result = False, "", None
    try:
        ai_call_admitted()  # no slot: settled as an error below (nothing counts)
        result = await call()
        if still_wanted is not None and not await still_wanted():
            raise JobCanceled()
        ok = True
    except ApplicationError as exc:
        error_code = exc.code
        raise
    except BaseException:
        error_code = "internal_error"
        raise
    finally:
        units = Decimal(units_of(result)) if ok else Decimal("0")
        cost = await media_settle(
            reservation=reservation,
            model=model,
            endpoint=endpoint,
            request_id=request_id,
            units=units,
            ok=ok,
            error_code=error_code,
            started=started,
        )
    return MeteredResult(result, units, cost, model.currency)


# --- a reservation kept across tasks (video: submit now, settle when done) ---------


def reservation_dump(reservation: "Reservation") -> dict[str, Any]:
    data = dataclasses.asdict(reservation)
    data["day"] = reservation.day.isoformat()
    data["quota"]["reset_at"] = reservation.quota.reset_at.isoformat()
    return data


def reservation_load(data: dict[str, Any]) -> "Reservation":
    from usage.types import QuotaState, Reservation

    quota = QuotaState(
        **{
            **data["quota"],
            "reset_at": datetime.fromisoformat(data["quota"]["reset_at"]),
        }
    )
    return Reservation(
        **{**data, "day": date.fromisoformat(data["day"]), "quota": quota}
    )
