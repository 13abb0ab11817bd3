"""No credential reaches a log line: a real uvicorn process, its output scanned.

uvicorn writes one line per WebSocket handshake with the path and query string
(`"WebSocket /ws/notifications/?token=..." [accepted]`), whatever `--no-access-log`
says; query-string tokens (JWTs and API keys, valid or not) must not appear there.
"""

import contextlib
import time

import pytest
from websockets.sync.client import connect

from accounts.tests.factories import UserFactory
from flowmatik.jsonlog import redact_text
from flowmatik.testing import processes
from flowmatik.testing.auth import api_key_for, jwt_for


@pytest.fixture
def uvicorn_process(transactional_db, tmp_path):
    """`make run`'s uvicorn command on a free port, on the test database."""
    with processes.uvicorn_process(
        workdir=tmp_path, args=("--log-level", "debug"), env={"LOG_LEVEL": "DEBUG"}
    ) as running:
        yield running.port, running.log


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?token=abc123&page=2", "GET /x?token=[REDACTED]&page=2"),
        ("GET /x?API_KEY=abc123", "GET /x?API_KEY=[REDACTED]"),
        ("jwt eyJhbGciOi.eyJ4IjoxfQ.c2ln here", "jwt [REDACTED] here"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [REDACTED]"),
        ("key fmk_abc_123 used", "key fmk_[REDACTED] used"),
        (
            "stripe sk_live_abc and sk_test_def",
            "stripe sk_live_[REDACTED] and sk_test_[REDACTED]",
        ),
        ("hook whsec_abc", "hook whsec_[REDACTED]"),
        ("POST /v1/chat/completions 200", "POST /v1/chat/completions 200"),
    ],
)
def test_every_kind_of_credential_in_a_log_text_is_redacted(text, expected):
    assert redact_text(text) == expected
