"""No credential reaches a log line: a real uvicorn process, its output scanned.

uvicorn writes one line per WebSocket handshake with the path and query string
(`"WebSocket /ws/notifications/?token=..." [accepted]`), whatever `--no-access-log`
says; query-string tokens (JWTs and API keys, valid or not) must not appear there.
"""

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from websockets.sync.client import connect

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import api_key_for, jwt_for

BASE_DIR = Path(settings.BASE_DIR)


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] or "root"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"mysql://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}"
        f"/{db['NAME']}"
    )


@pytest.fixture
def uvicorn_process(transactional_db, tmp_path):
    """`make run`'s uvicorn command on a free port, on the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_READ_DOT_ENV": "false",
        "FLOWMATIK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": _database_url(),
        "LOG_LEVEL": "DEBUG",
    }
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
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
                "--log-level",
                "debug",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            port = None
            deadline = time.monotonic() + 60
            while port is None and time.monotonic() < deadline:
                match = re.search(
                    r"running on http://127\.0\.0\.1:(\d+)", log.read_text()
                )
                if match:
                    port = int(match.group(1))
                elif proc.poll() is not None:
                    pytest.fail(f"uvicorn exited:\n{log.read_text()}")
                else:
                    time.sleep(0.1)
            assert port, log.read_text()
            yield port, log
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def _open_and_close(port: int, path: str) -> None:
    # A refused token closes the socket: whatever recv says is fine here.
    with (
        connect(
            f"ws://127.0.0.1:{port}{path}",
            origin="http://127.0.0.1",
            open_timeout=10,
            close_timeout=2,
        ) as socket,
        contextlib.suppress(Exception),
    ):
        socket.recv(timeout=0.5)


def test_query_string_tokens_never_reach_uvicorns_output(uvicorn_process):
    port, log = uvicorn_process
    user = UserFactory()
    access = jwt_for(user)
    key = api_key_for(user)
    secrets = {
        "valid jwt": access,
        "valid api key": key,
        "garbage jwt": "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJlLWdhcmJhZ2U",
        "unknown api key": "fmk_deadbeef_" + "Z" * 32,
    }
    for token in secrets.values():
        for path in ("/ws/notifications/", "/ws/chat/"):
            _open_and_close(port, f"{path}?token={token}")
    time.sleep(0.5)
    output = log.read_text()
    assert "WebSocket /ws/notifications/" in output  # the line is there, redacted
    leaked = [name for name, token in secrets.items() if token in output]
    assert leaked == [], output
    # Not even the distinctive parts of a key or a JWT's signature.
    assert key.split("_", 2)[-1] not in output
    assert access.rsplit(".", 1)[-1] not in output
