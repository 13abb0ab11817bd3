"""A web process does its one-off work at start-up (ASGI lifespan), not in the
time of its first requests."""

import json
import os
import subprocess
import sys

from django.conf import settings

# A fresh interpreter: the test process has long imported and finalized all this.
STARTUP = """
import asyncio, json, sys
from flowmatik.asgi import application
from flowmatik.celery import app

async def main():
    sent = []
    async def receive():
        if not sent:
            return {"type": "lifespan.startup"}
        await asyncio.sleep(3600)
    async def send(message):
        sent.append(message["type"])
    before = {"urls": "flowmatik.urls" in sys.modules, "celery": app.finalized}
    task = asyncio.create_task(application({"type": "lifespan"}, receive, send))
    while not sent:
        await asyncio.sleep(0.01)
    task.cancel()
    after = {"urls": "flowmatik.urls" in sys.modules, "celery": app.finalized}
    print(json.dumps({"sent": sent, "before": before, "after": after}))

asyncio.run(main())
"""


def test_lifespan_startup_loads_the_urls_and_finalizes_celery(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flowmatik.settings.base",
        "FLOWMATIK_READ_DOT_ENV": "false",
        "FLOWMATIK_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", STARTUP],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(
        next(line for line in out.stdout.splitlines() if line.startswith('{"sent"'))
    )
    assert result["sent"] == ["lifespan.startup.complete"]
    assert result["before"] == {"urls": False, "celery": False}
    assert result["after"] == {"urls": True, "celery": True}
