"""The platform's processes as `make run` starts them, for tests that need them apart.

Web processes (`processes.uvicorn_process`) and the Celery worker with beat
(`celery_worker_process`) share one var/ folder (embedded broker, disk cache,
channel relay) and the test database; with `REDIS_URL` set in the test run they
share Redis instead, as in production. `platform_env` is the environment they all
get; `wait_for` polls a condition with a deadline.
"""

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings

from flowmatik.testing.process_control import process_start, process_stop
from flowmatik.testing.processes import RunningProcess, database_url_of_tests
from flowmatik.testing.secret_scan import scan_process_output


def platform_env(*, workdir: Path, **extra: str) -> dict[str, str]:
    """What every process of one test platform runs with (plus `extra`)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_READ_DOT_ENV": "false",
        "FLOWMATIK_VAR_DIR": str(workdir),
        "DATABASE_URL": database_url_of_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "LOG_LEVEL": "INFO",
        "SILICONFLOW_API_KEY": "",
        "DOUBAO_API_KEY": "",
        "OPENAI_API_KEY": "",
        "ARK_API_KEY": "",
        # the demo model streams unpaced in tests (the portal default is ~30/s)
        "AI_DEMO_TOKENS_PER_SECOND": "0",
    }
    env.update(extra)
    return env


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def process_group_stop(process: subprocess.Popen, *, timeout: float = 20) -> None:
    """SIGTERM the process's group (it and its children), then SIGKILL."""
    process_stop(process, timeout=timeout, group=True)


@contextlib.contextmanager
def celery_worker_process(
    *,
    workdir: Path,
    env: dict[str, str],
    beat: bool = True,
    queues: tuple[str, ...] = (),
    name: str = "celery",
) -> Iterator[RunningProcess]:
    """`celery -A flowmatik worker -B`, as `make run` starts it, until it is ready.

    `queues` (`-Q`) makes it consume only those queues (a test's own, so that
    messages other tests left in a shared broker never reach it); several workers
    may share one workdir, each logging to `<workdir>/<name>.log`.
    """
    log = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "flowmatik",
        "worker",
        *(["-B"] if beat else []),
        "--loglevel=INFO",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        *(["-Q", ",".join(queues)] if queues else []),
        "-n",
        f"test-{uuid.uuid4().hex[:8]}@%h",
    ]
    process = process_start(
        command,
        log=log,
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        new_session=True,
    )
    try:
        wait_for(
            lambda: (
                re.search(r"\bready\b", log.read_text("latin-1"))
                or process.poll() is not None
            ),
            timeout=60,
            what="the Celery worker",
        )
        if process.poll() is not None:
            raise RuntimeError(f"celery exited:\n{log.read_text()}")
        yield RunningProcess(port=0, log=log, process=process)
    finally:
        process_group_stop(process)
        scan_process_output(log, "celery worker output")
