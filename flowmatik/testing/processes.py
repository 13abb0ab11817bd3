"""The platform's real processes for tests: uvicorn as `make run` starts it.

`uvicorn_process(...)` runs `python -m uvicorn flowmatik.asgi:application` on a
free port (port 0, read back from its own log line) against the test database,
with the extra environment and arguments given, and stops it afterwards.
"""

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from flowmatik.testing.process_control import process_start, process_stop, wait_log
from flowmatik.testing.secret_scan import scan_process_output

# uvicorn's start-up line, with the port it bound (asked for port 0)
_LISTENING = re.compile(r"running on http://127\.0\.0\.1:(\d+)")


def database_url_of_tests() -> str:
    """A DATABASE_URL naming the database the tests write to (SQLite or MySQL)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "root"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    host = db["HOST"] or "127.0.0.1"
    return f"mysql://{user}{password}@{host}:{db['PORT'] or 3306}/{db['NAME']}"


@dataclass
class RunningProcess:
    port: int
    log: Path
    process: subprocess.Popen

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def uvicorn_process(
    *,
    workdir: Path,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    name: str = "uvicorn",
) -> Iterator[RunningProcess]:
    """uvicorn serving the platform on a free port; stdout+stderr go to
    `<workdir>/<name>.log` (several servers may share one workdir)."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_READ_DOT_ENV": "false",
        "FLOWMATIK_VAR_DIR": str(workdir),
        "DATABASE_URL": database_url_of_tests(),
        **(env or {}),
    }
    log = workdir / f"{name}.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "flowmatik.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--lifespan",
        "on",
        "--no-access-log",
        *args,
    ]
    process = process_start(command, log=log, cwd=settings.BASE_DIR, env=full_env)
    try:
        found = wait_log(process, log, _LISTENING.search, timeout=60, interval=0.1)
        if found is None:
            raise RuntimeError(f"uvicorn did not start:\n{log.read_text()}")
        yield RunningProcess(port=int(found.group(1)), log=log, process=process)
    finally:
        process_stop(process, timeout=15)
        scan_process_output(log, f"{name} output ({log.name})")
