"""The per-process buffer of metric increments recorded on the event loop.

A request's metrics (`ametrics_record_request`, `ametrics_record_ai_call`) are
added to an in-memory sum (no I/O, nothing awaited) and a daemon thread writes the
sums to the store every `METRICS_FLUSH_MS` in one call (one Redis pipeline, or
one SQLite transaction): a busy process pays one round trip per interval instead
of two per AI call. Counters are sums, so adding them up first changes nothing but
when they become visible to other processes (within one interval). Readers in this
process (`metrics_window`, `/metrics`) write what is pending first, so they see
their own process's figures at once. The buffer is also written at interpreter
exit and at the ASGI lifespan shutdown; a process killed outright loses at most
one interval of metrics (a metric is never worth a failed request).
`METRICS_FLUSH_MS=0` writes each increment through at once, as before.
"""

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence

from django.conf import settings

from flowmatik.metrics.store import Increment

logger = logging.getLogger("flowmatik.metrics")

THREAD_NAME = "metrics-flusher"
# Distinct (key, field) pairs held before the thread is woken early
WAKE_AT_FIELDS = 5_000


class MetricsBuffer:
    """Pending increments of one store (a store switched in tests keeps its own)."""

    def __init__(self, write: Callable[[Sequence[Increment]], None]) -> None:
        self._write = write
        self._sums: dict[tuple[str, str], float] = {}
        self._ttls: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        _live.add(self)

    def add(self, increments: Sequence[Increment]) -> None:
        """Sum `increments` into the pending ones (returns at once)."""
        with self._lock:
            sums, ttls = self._sums, self._ttls
            for key, field, amount, ttl in increments:
                sums[(key, field)] = sums.get((key, field), 0.0) + amount
                ttls[key] = ttl
            many = len(sums) >= WAKE_AT_FIELDS
        _ensure_thread()
        if many:
            _wake.set()

    def pending(self) -> int:
        return len(self._sums)

    def flush(self) -> None:
        """Write what is pending now, in the calling thread (one store write)."""
        with self._flush_lock:
            with self._lock:
                sums, ttls = self._sums, self._ttls
                self._sums, self._ttls = {}, {}
            if sums:
                self._write(
                    [
                        (key, field, amount, ttls.get(key))
                        for (key, field), amount in sums.items()
                    ]
                )


# Every buffer of this process (stores are dropped by `metrics_reset` in tests)
_live: "weakref.WeakSet[MetricsBuffer]" = weakref.WeakSet()
_wake = threading.Event()
_start_lock = threading.Lock()
_thread_pid: int | None = None


def buffers_flush() -> None:
    """Write every buffer's pending increments now, in the calling thread."""
    for buffer in list(_live):
        buffer.flush()


def _ensure_thread() -> None:
    global _thread_pid
    if _thread_pid == os.getpid():
        return
    with _start_lock:
        if _thread_pid == os.getpid():
            return
        if _thread_pid is None:
            atexit.register(buffers_flush)
        _thread_pid = os.getpid()
        threading.Thread(target=_run, name=THREAD_NAME, daemon=True).start()


def _run() -> None:
    pid = os.getpid()
    while _thread_pid == pid:
        _wake.wait(max(1, settings.METRICS_FLUSH_MS) / 1000)
        _wake.clear()
        try:
            buffers_flush()  # a store never raises for a failed write
        except Exception:  # the thread must outlive anything a write raises
            logger.exception("Metrics flusher failed a round")
