"""The per-process background writer of usage records (the Redis settle path).

`usage_settle` on Redis hands each record to `record_submit` (an append to an
in-memory queue: no wait, no database) after the settle script has also buffered
it in Redis (`{p}:events`). A daemon thread per process stores the queue in
batches (`usage_records_store_batch`: one transaction, bulk insert, each event once
by its key) every `USAGE_RECORD_FLUSH_MS`, or at once when `USAGE_RECORD_BATCH_MAX`
wait. A batch the database refuses goes back to the head of the queue and is tried
again on the next tick; at most `USAGE_RECORD_QUEUE_MAX` records wait (beyond, the
oldest are left to the Redis buffer, which the drain task stores). The queue is
flushed at interpreter exit, at the ASGI lifespan shutdown and after each Celery
task. The drain task later meets the same events in Redis and skips them (unique
event key), so nothing is counted twice.

So a record is lost only if Redis dies (its buffer) AND the process dies before
its next flush. `USAGE_RECORD_FLUSH_MS=0` turns the writer off: `usage_settle`
then writes each record inside the request, as without Redis.
"""

import atexit
import collections
import itertools
import logging
import os
import threading
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections

from flowmatik.db_threads import drop_connection

logger = logging.getLogger("flowmatik.usage")

THREAD_NAME = "usage-record-writer"


def enabled() -> bool:
    """Records of the Redis settle path go through this writer (not the request)."""
    return settings.USAGE_RECORD_FLUSH_MS > 0


class _RecordWriter:
    def __init__(self) -> None:
        self.pending: collections.deque[dict[str, Any]] = collections.deque()
        self.dropped = 0
        self.failing = False
        self._flush_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._pid: int | None = None
        self._atexit = False

    # --- producer side: the event loop of a request (never blocks) ---

    def submit(self, payload: dict[str, Any]) -> None:
        self.pending.append(payload)
        self._trim()
        self._ensure_thread()
        if len(self.pending) >= max(1, settings.USAGE_RECORD_BATCH_MAX):
            self._wake.set()

    def _trim(self) -> None:
        limit = max(1, settings.USAGE_RECORD_QUEUE_MAX)
        dropped = 0
        while len(self.pending) > limit:
            try:
                self.pending.popleft()
            except IndexError:
                break
            dropped += 1
        if dropped:
            self.dropped += dropped
            logger.warning(
                "Usage records left to the Redis buffer: the writer's queue is full",
                extra={"count": dropped},
            )

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            if not self._atexit:
                atexit.register(self.flush)
                self._atexit = True
            threading.Thread(target=self._run, name=THREAD_NAME, daemon=True).start()

    # --- consumer side: the thread, exit, a Celery task's end, tests ---

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            self._wake.wait(max(1, settings.USAGE_RECORD_FLUSH_MS) / 1000)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must outlive anything a batch raises
                logger.exception("Usage record writer failed a round")
            finally:
                close_old_connections()

    def flush(self) -> int:
        """Store what waits now, in batches; returns how many records were new.

        Stops at the first batch the database refuses (it waits at the head of the
        queue for the next try); never raises for that.
        """
        from usage.services.records import usage_records_store_batch

        written = 0
        size = max(1, settings.USAGE_RECORD_BATCH_MAX)
        with self._flush_lock:
            while self.pending:
                batch = list(itertools.islice(self.pending, 0, size))
                for _ in batch:
                    self.pending.popleft()
                try:
                    written += self._store(usage_records_store_batch, batch)
                except DatabaseError as exc:
                    self.pending.extendleft(reversed(batch))
                    self._trim()
                    drop_connection()
                    if not self.failing:
                        logger.warning(
                            "Usage records wait in memory: the database refused them",
                            extra={"error": type(exc).__name__, "count": len(batch)},
                        )
                    self.failing = True
                    return written
                if self.failing:
                    logger.info("Usage records stored again after a database outage")
                self.failing = False
        return written

    def flushing(self) -> bool:
        return self._flush_lock.locked()

    @staticmethod
    def _store(store, batch: list[dict[str, Any]]) -> int:
        try:
            return store(payloads=batch)
        except IntegrityError:
            # Another writer (the drain task) stored one of these meanwhile: the
            # batch rolled back whole; once more skips what is stored now.
            pass
        try:
            return store(payloads=batch)
        except IntegrityError:
            # Still refused (its user or key deleted mid-batch): one by one, so
            # one unstorable record does not hold the others back.
            return sum(_store_one(payload) for payload in batch)


def _store_one(payload: dict[str, Any]) -> int:
    from usage.services.records import usage_record_store

    try:
        return int(usage_record_store(payload=payload))
    except IntegrityError:
        logger.exception(
            "Unstorable usage record left to the Redis buffer",
            extra={"eventKey": payload.get("event_key")},
        )
        return 0


_writer = _RecordWriter()


def record_submit(payload: dict[str, Any]) -> None:
    """Queue one usage record for the background writer (returns at once)."""
    _writer.submit(payload)


def records_flush() -> int:
    """Store the queued records now, in the calling thread; how many were new."""
    if not _writer.pending and not _writer.flushing():
        return 0
    return _writer.flush()  # after the thread's batch in flight, if any


def records_pending() -> int:
    """How many records wait in this process's queue."""
    return len(_writer.pending)


def records_discard() -> None:
    """Forget the queued records (tests start from an empty queue)."""
    _writer.pending.clear()
    _writer.failing = False
