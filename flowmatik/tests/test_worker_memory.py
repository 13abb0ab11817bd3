"""What a web worker holds in memory (issue 18): SDKs it does not need until used
are not imported at start-up.

Each case starts the ASGI application in a fresh interpreter, as a uvicorn worker
does (import, then the lifespan startup), and reads `sys.modules`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

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
