"""What a web worker holds in memory (issue 18): SDKs it does not need until used
are not imported at start-up; an idle WebSocket keeps no compression state.

The start-up cases start the ASGI application in a fresh interpreter, as a uvicorn
worker does (import, then the lifespan startup), and read `sys.modules`.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect

from accounts.tests.factories import UserFactory
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.processes import uvicorn_process

ROOT = Path(__file__).resolve().parents[2]
WORKER_START = """
import asyncio, json, sys
import flowmatik.asgi

async def lifespan():
    inbox = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    sent = []

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            sent.append(sorted(m for m in SDKS if m in sys.modules))
            await inbox.put({"type": "lifespan.shutdown"})

    await flowmatik.asgi.application({"type": "lifespan"}, inbox.get, send)
    return sent

SDKS = ("mcp", "mcp_types", "starlette", "sse_starlette")
print(json.dumps(asyncio.run(lifespan())))
"""


def _worker_start(tmp_path) -> list:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_VAR_DIR": str(tmp_path / "var"),
        "FLOWMATIK_READ_DOT_ENV": "false",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [sys.executable, "-c", WORKER_START],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_web_worker_starts_without_importing_the_mcp_sdk(tmp_path):
    """The MCP SDK (≈ 28 MB with starlette and its models) is loaded by the first
    /mcp request or MCP tool call, not by the worker's start."""
    sent = _worker_start(tmp_path)
    assert sent == [
        "lifespan.startup.complete",
        [],  # none of the MCP SDK's modules
        "lifespan.shutdown.complete",
    ]


def _dockerfile_server_options() -> list[str]:
    """The uvicorn options of the container's command (the production server)."""
    cmd = next(
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    )
    words = shlex.split(json.loads(cmd[4:])[-1])
    return words[words.index("flowmatik.asgi:application") + 1 :]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120, func_only=True)
def test_the_production_server_negotiates_no_websocket_compression(tmp_path):
    """A client offering permessage-deflate (browsers and `websockets` do) gets a
    socket without it: the extension's zlib state cost ≈ 31 KB per open socket,
    for frames (notifications, chat deltas) that are small JSON."""
    options = _dockerfile_server_options()
    args: tuple[str, ...] = ()
    if "--ws-per-message-deflate" in options:
        index = options.index("--ws-per-message-deflate")
        args = tuple(options[index : index + 2])
    token = jwt_for(UserFactory())
    with (
        uvicorn_process(workdir=tmp_path, args=args) as web,
        connect(
            f"ws://127.0.0.1:{web.port}/ws/notifications/",
            subprotocols=["bearer", token],
            origin="http://127.0.0.1",
            open_timeout=30,
        ) as socket,
    ):
        assert "permessage-deflate" in (
            socket.request.headers.get("Sec-WebSocket-Extensions") or ""
        )
        assert socket.response.headers.get("Sec-WebSocket-Extensions") is None
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=30)) == {"type": "pong"}


def test_every_production_server_command_turns_websocket_compression_off():
    """`make start-prod` and `make run` start uvicorn like the container does."""
    for name in ("Makefile", "scripts/run-platform.sh"):
        text = (ROOT / name).read_text()
        assert "--ws-per-message-deflate false" in text, name
    options = _dockerfile_server_options()
    index = options.index("--ws-per-message-deflate")
    assert options[index + 1] == "false"
