"""Per-provider circuit breaker and health figures, shared through the Django cache.

The state lives in the cache (Redis in production), so every web process and worker
agrees on whether a provider's circuit is open. Updates are read-modify-write without
a lock: under heavy contention a failure may be counted once instead of twice, which
only delays opening the circuit by a call; it never blocks a healthy provider.

A success on a closed circuit writes nothing to the circuit state; its health figure
(latency, time) is kept in the process and written with the others at most once per
`AI_CIRCUIT_STATS_FLUSH_SECONDS` (on the next call or status read after that), so a
busy provider costs no cache write per call. Failures are written at once.
"""

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from ai.errors import ProviderUnavailable
from flowmatik.acache import acache_get_many

RECENT_CALLS_KEPT = 100
RECENT_WINDOW_SECONDS = 900


def _state_key(provider: str) -> str:
    return f"ai:circuit:{provider}"


def circuit_state_keys(providers: Iterable[str]) -> list[str]:
    """The cache keys `acircuit_before_call` reads (for callers that read ahead)."""
    return [_state_key(provider) for provider in providers]


def _probe_key(provider: str) -> str:
    return f"ai:circuit:{provider}:probe"


def _stats_key(provider: str) -> str:
    return f"ai:stats:{provider}"


@dataclass
class CircuitTicket:
    """What `circuit_before_call` saw, so the outcome costs no extra read."""

    provider: str
    failures: int
    half_open: bool


def circuit_before_call(provider: str) -> CircuitTicket:
    """Let a call through, or raise 503 `provider_unavailable` while open.

    After AI_CIRCUIT_RESET_SECONDS an open circuit lets exactly one probe call
    through (half-open); its outcome closes or re-opens the circuit.
    """
    state = cache.get(_state_key(provider)) or {}
    failures = int(state.get("failures", 0))
    opened_at = state.get("opened_at")
    if opened_at is None:
        return CircuitTicket(provider, failures, False)
    reset = settings.AI_CIRCUIT_RESET_SECONDS
    remaining = opened_at + reset - time.time()
    if remaining > 0 or not cache.add(_probe_key(provider), 1, timeout=reset):
        raise ProviderUnavailable(
            "The AI provider is temporarily unavailable (circuit open).",
            details={"provider": provider},
            retry_after=max(1.0, remaining),
        )
    return CircuitTicket(provider, failures, True)


async def acircuit_before_call(provider: str) -> CircuitTicket:
    """`circuit_before_call` for the event loop: a closed circuit is one
    non-blocking cache read; an open one is decided in a worker thread."""
    key = _state_key(provider)
    state = (await acache_get_many([key])).get(key) or {}
    if state.get("opened_at") is None:
        return CircuitTicket(provider, int(state.get("failures", 0)), False)
    return await sync_to_async(circuit_before_call, thread_sensitive=False)(provider)


def circuit_record_success(ticket: CircuitTicket, *, latency_ms: int) -> None:
    if ticket.failures or ticket.half_open:
        cache.delete_many([_state_key(ticket.provider), _probe_key(ticket.provider)])
    _stats_record(ticket.provider, ok=True, latency_ms=latency_ms, error_code="")


def circuit_record_failure(
    ticket: CircuitTicket, *, latency_ms: int, error_code: str
) -> None:
    """Count a provider fault (5xx, timeout, unreachable, broken stream)."""
    key = _state_key(ticket.provider)
    state = cache.get(key) or {}
    failures = int(state.get("failures", 0)) + 1
    opened_at = state.get("opened_at")
    if ticket.half_open or failures >= settings.AI_CIRCUIT_FAILURE_THRESHOLD:
        opened_at = time.time()
        cache.delete(_probe_key(ticket.provider))
    cache.set(key, {"failures": failures, "opened_at": opened_at}, timeout=None)
    _stats_record(
        ticket.provider, ok=False, latency_ms=latency_ms, error_code=error_code
    )


# Successes not yet written, per provider; when each provider's figures were last
# written (monotonic seconds).
_pending: dict[str, list[tuple[float, int, bool]]] = {}
_flushed_at: dict[str, float] = {}
_pending_lock = threading.Lock()


def _stats_record(provider: str, *, ok: bool, latency_ms: int, error_code: str) -> None:
    now = time.time()
    with _pending_lock:
        _pending.setdefault(provider, []).append((now, latency_ms, ok))
        due = time.monotonic() - _flushed_at.get(provider, float("-inf"))
        if ok and due < settings.AI_CIRCUIT_STATS_FLUSH_SECONDS:
            return
    _stats_flush(provider, error_code=None if ok else error_code)


def _stats_flush(provider: str, *, error_code: str | None = None) -> None:
    """Write this process's pending figures of `provider` (read-modify-write)."""
    with _pending_lock:
        calls = _pending.pop(provider, [])
        _flushed_at[provider] = time.monotonic()
    if not calls:
        return
    key = _stats_key(provider)
    stats = cache.get(key) or {"recent": []}
    successes = [at for at, _, ok in calls if ok]
    failures = [at for at, _, ok in calls if not ok]
    if successes:
        stats["last_success_at"] = max(successes)
    if failures:
        stats["last_failure_at"] = max(failures)
        if error_code is not None:
            stats["last_error_code"] = error_code
    stats["recent"] = [*stats["recent"], *calls][-RECENT_CALLS_KEPT:]
    cache.set(key, stats, timeout=86400)


def circuit_stats_reset() -> None:
    """Forget this process's unwritten figures (tests start from a clean cache)."""
    with _pending_lock:
        _pending.clear()
        _flushed_at.clear()


def circuit_status(provider: str) -> dict[str, Any]:
    """Circuit state and recent health of one provider (for `/api/ai/status`)."""
    _stats_flush(provider)
    values = cache.get_many([_state_key(provider), _stats_key(provider)])
    state = values.get(_state_key(provider)) or {}
    stats = values.get(_stats_key(provider)) or {"recent": []}
    opened_at = state.get("opened_at")
    if opened_at is None:
        circuit = "closed"
    elif time.time() - opened_at < settings.AI_CIRCUIT_RESET_SECONDS:
        circuit = "open"
    else:
        circuit = "half_open"
    horizon = time.time() - RECENT_WINDOW_SECONDS
    recent = [r for r in stats["recent"] if r[0] >= horizon]
    latencies = sorted(r[1] for r in recent if r[2])
    return {
        "circuit": circuit,
        "consecutive_failures": int(state.get("failures", 0)),
        "last_success_at": stats.get("last_success_at"),
        "last_failure_at": stats.get("last_failure_at"),
        "last_error_code": stats.get("last_error_code", ""),
        "recent_calls": len(recent),
        "recent_latency_ms_p50": latencies[len(latencies) // 2] if latencies else None,
        "recent_error_rate": (
            round(sum(1 for r in recent if not r[2]) / len(recent), 3)
            if recent
            else None
        ),
    }
