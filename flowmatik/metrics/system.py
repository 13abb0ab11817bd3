"""Process and queue gauges: CPU/memory of every web/worker process, Celery queue depth.

Each process reports its own CPU and memory to the metrics store every
`METRICS_PROCESS_REPORT_SECONDS` from a daemon thread (started lazily, once per
process id, so forked workers report for themselves); a process that stops
reporting drops out after three periods.
"""

import logging
import os
import socket
import threading
import time
from pathlib import Path

import psutil
from django.conf import settings

from flowmatik.metrics import metrics_store

logger = logging.getLogger("flowmatik.metrics")

_started: dict[int, str] = {}
_lock = threading.Lock()


def process_name(role: str) -> str:
    return f"{role}:{socket.gethostname()}:{os.getpid()}"


def process_stats(role: str) -> dict:
    process = psutil.Process()
    with process.oneshot():
        return {
            "role": role,
            "pid": process.pid,
            "host": socket.gethostname(),
            # Since the previous call in this process (the first call reads 0.0).
            "cpu_percent": process.cpu_percent(interval=None),
            "rss_bytes": process.memory_info().rss,
            "threads": process.num_threads(),
        }


def process_report(role: str) -> None:
    """Write this process's CPU and memory to the shared store now."""
    try:
        metrics_store().process_report(
            name=process_name(role),
            data=process_stats(role),
            ttl=int(settings.METRICS_PROCESS_REPORT_SECONDS * 3),
        )
    except Exception:  # a gauge must never take a process down
        logger.warning("Process stats not reported", exc_info=True)


def process_reporter_start(role: str) -> bool:
    """Start this process's reporter thread once; True if it was started now."""
    pid = os.getpid()
    if _started.get(pid) == role:
        return False
    if not settings.METRICS_ENABLED or settings.METRICS_PROCESS_REPORT_SECONDS <= 0:
        return False
    with _lock:
        if _started.get(pid) == role:
            return False
        _started.clear()  # inherited from a parent before fork: not ours
        _started[pid] = role

    def loop() -> None:
        while _started.get(os.getpid()) == role:
            process_report(role)
            time.sleep(settings.METRICS_PROCESS_REPORT_SECONDS)

    threading.Thread(target=loop, name=f"metrics-{role}", daemon=True).start()
    return True


def process_list() -> list[dict]:
    """Processes that reported recently, web first, then by host and pid."""
    rows = metrics_store().processes(
        max_age=settings.METRICS_PROCESS_REPORT_SECONDS * 3
    )
    return sorted(
        rows.values(), key=lambda row: (row.get("role", ""), row.get("host", ""))
    )


def celery_queue_depth() -> dict[str, int | None]:
    """Messages waiting in the default Celery queue (None when unreadable)."""
    from flowmatik.celery import app

    queue = app.conf.task_default_queue or "celery"
    broker = settings.CELERY_BROKER_URL
    try:
        if broker.startswith("filesystem://"):
            folder = Path(app.conf.broker_transport_options["data_folder_in"])
            depth = sum(
                1
                for path in folder.glob("*.msg")
                if path.name.partition(".")[2] == f"{queue}.msg"
            )
            return {queue: depth}
        if broker.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(
                broker,
                socket_connect_timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
                socket_timeout=settings.HEALTH_CHECK_TIMEOUT_SECONDS,
            )
            try:
                return {queue: int(client.llen(queue))}
            finally:
                client.close()
    except Exception as exc:
        logger.warning(
            "Celery queue depth unreadable", extra={"error": type(exc).__name__}
        )
    return {queue: None}
