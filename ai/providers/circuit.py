"""Per-provider circuit breaker and health figures, shared through the Django cache.

The state lives in the cache (Redis in production), so every web process and worker
agrees on whether a provider's circuit is open. Updates are read-modify-write without
a lock: under heavy contention a failure may be counted once instead of twice, which
only delays opening the circuit by a call; it never blocks a healthy provider.

A success on a closed circuit writes nothing to the circuit state; its health figure
(latency, time) is kept in the process and written with the others every
`AI_CIRCUIT_STATS_FLUSH_SECONDS` by a background thread of the process (or by a
status read, or the next failure, before that), so a call costs no cache round trip
and the event loop none at all. Failures are written at once.
"""

import logging
import os
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

logger = logging.getLogger("flowmatik.ai")

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


# Successes not yet written, per provider
_pending: dict[str, list[tuple[float, int, bool]]] = {}
_pending_lock = threading.Lock()
FLUSHER_THREAD_NAME = "circuit-stats"
_flusher_pid: int | None = None


def _stats_record(provider: str, *, ok: bool, latency_ms: int, error_code: str) -> None:
    now = time.time()
    with _pending_lock:
        _pending.setdefault(provider, []).append((now, latency_ms, ok))
    if ok:
        _flusher_ensure()
        return
    _stats_flush(provider, error_code=error_code)


def _flusher_ensure() -> None:
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    with _pending_lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    threading.Thread(target=_flusher, name=FLUSHER_THREAD_NAME, daemon=True).start()


def _flusher() -> None:
    """Write every provider's pending figures once per interval (this process)."""
    pid = os.getpid()
    flushed = time.monotonic()
    while _flusher_pid == pid:
        interval = max(0.05, settings.AI_CIRCUIT_STATS_FLUSH_SECONDS)
        time.sleep(min(0.25, interval))  # a changed interval applies soon
        if time.monotonic() - flushed < interval:
            continue
        flushed = time.monotonic()
        for provider in list(_pending):
            try:
                _stats_flush(provider)
            except Exception:  # the thread outlives a cache that fails
                logger.exception("Provider figures not written")


def _stats_flush(provider: str, *, error_code: str | None = None) -> None:
    """Write this process's pending figures of `provider` (read-modify-write)."""
    with _pending_lock:
        calls = _pending.pop(provider, [])
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
