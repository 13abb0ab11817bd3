"""A logging handler that keeps recent records queryable (`/api/admin/logs`).

`emit` only appends the record's JSON line (the stdout handler's, formatted once)
to a bounded in-memory buffer (never blocks, never raises; when the buffer is full
the record is dropped and counted). A daemon thread per process parses the buffer
and moves it into the `LogRecord` table every `LOG_STORE_FLUSH_SECONDS` in one bulk
insert, and prunes rows older than `LOG_STORE_RETENTION_HOURS` or beyond
`LOG_STORE_MAX_ROWS` every `LOG_STORE_PRUNE_SECONDS`. Records logged by that thread
itself are not stored, and of successful requests' access lines only a
`LOG_STORE_ACCESS_SAMPLE_RATE` share (stdout gets every line).
"""

import collections
import json
import logging
import os
import random
import threading
import time

import orjson

from flowmatik.jsonlog import JsonFormatter

FLUSHER_THREAD_NAME = "logstore-flusher"
ACCESS_LOGGER = "flowmatik.access"
_IGNORED_LOGGERS = ("django.db.backends", "flowmatik.logstore")


class QueryableLogHandler(logging.Handler):
    """Buffer JSON log records and store them in batches off the request path."""

    def __init__(self, level: int | str = logging.INFO) -> None:
        super().__init__(level)
        self.formatter_json = JsonFormatter()
        self.buffer: collections.deque[str] = collections.deque()  # JSON lines
        self.dropped = 0
        self._pid: int | None = None
        self._lock_start = threading.Lock()
        self._last_prune = 0.0
        self._wake = threading.Event()
        # Set by the first successful write: a process that never reached its
        # database (a short command, a wrong URL) does not try again at exit.
        self._stored_once = False

    # --- producer side (any thread, any request) ---

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.name.startswith(_IGNORED_LOGGERS):
                return
            if threading.current_thread().name == FLUSHER_THREAD_NAME:
                return
            from django.conf import settings

            if not settings.LOG_STORE_ENABLED:
                return
            if record.name == ACCESS_LOGGER and not _access_kept(record, settings):
                return
            if len(self.buffer) >= settings.LOG_STORE_BUFFER_SIZE:
                self.dropped += 1
                return
            self.buffer.append(self.formatter_json.format(record))
            self._ensure_flusher(settings)
        except Exception:  # a log line must never fail the code that logs it
            self.dropped += 1

    def _ensure_flusher(self, settings) -> None:
        if self._pid == os.getpid() or settings.LOG_STORE_FLUSH_SECONDS <= 0:
            return
        with self._lock_start:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(
                target=self._run, name=FLUSHER_THREAD_NAME, daemon=True
            ).start()

    # --- consumer side (the flusher thread, or a test calling flush_now) ---

    def _run(self) -> None:
        from django.conf import settings

        pid = os.getpid()
        while self._pid == pid:
            self._wake.wait(settings.LOG_STORE_FLUSH_SECONDS)
            self._wake.clear()
            self.flush_now()

    def flush_now(self) -> int:
        """Store what is buffered now; returns how many rows were written."""
        from django.apps import apps
        from django.db import close_old_connections

        if not apps.ready or not self.buffer:
            return 0
        batch: list[str] = []
        while self.buffer and len(batch) < 5000:
            batch.append(self.buffer.popleft())
        try:
            from dashboard.services.logs import log_records_prune, log_records_store

            written = log_records_store(entries=[_parse(line) for line in batch])
            self._stored_once = True
            if time.monotonic() - self._last_prune > _prune_seconds():
                self._last_prune = time.monotonic()
                log_records_prune()
            return written
        except Exception:
            # The database is unreachable: these records are lost, the process
            # goes on (they were printed to stdout already).
            self.dropped += len(batch)
            return 0
        finally:
            if threading.current_thread().name == FLUSHER_THREAD_NAME:
                close_old_connections()

    def close(self) -> None:
        """Flush on shutdown (`logging.shutdown` runs at interpreter exit), if this
        process has written before: exit must not open a database connection."""
        try:
            if self._stored_once:
                self.flush_now()
        finally:
            super().close()


def _access_kept(record: logging.LogRecord, settings) -> bool:
    """Whether an access line goes to the store: always when its request failed,
    else for a LOG_STORE_ACCESS_SAMPLE_RATE share of them."""
    rate = settings.LOG_STORE_ACCESS_SAMPLE_RATE
    status = getattr(record, "status", None)
    if rate >= 1 or not isinstance(status, int) or status >= 400:
        return True
    return random.random() < rate  # noqa: S311 - sampling, not crypto


def _parse(line: str) -> dict:
    """A JSON line back as its fields (orjson; `json` for what only it writes: NaN,
    a lone surrogate)."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _prune_seconds() -> float:
    from django.conf import settings

    return settings.LOG_STORE_PRUNE_SECONDS
