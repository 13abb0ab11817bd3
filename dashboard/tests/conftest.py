"""Fixtures for the realtime tests: tokens, WebSocket communicators, a live server.

`live_asgi` serves the real ASGI application (`flowmatik.asgi.application`) with
uvicorn on 127.0.0.1 in a thread, so tests speak real WebSockets and HTTP to it.
"""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
import uvicorn
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.identity import api_key_hash
from accounts.models import ApiKey

# The AI tests' demo model (OpenAI-compatible, uvicorn on 127.0.0.1) and their
# settings fixture: the chat socket runs the real gateway against it.
from ai.tests.conftest import _ai_settings, catalogue_tx, demo_server  # noqa: F401

ORIGIN_HEADERS = [(b"origin", b"http://localhost"), (b"host", b"localhost")]


@pytest.fixture(autouse=True)
def _fresh_channel_layers():
    """Each test gets new layer objects (groups of old tests do not leak)."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def jwt_for(user, *, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def api_key_for(user, *, plan: str = "starter", **fields) -> str:
    """An API key made by accounts' own service, for a user on a plan with API."""
    from accounts.services import api_key_create
    from billing.tests.factories import subscription_row

    if not user.subscriptions.exists():
        subscription_row(user=user, plan=plan)
    raw = api_key_create(user=user, name="test").raw_key
    if fields:
        ApiKey.objects.filter(hashed_key=api_key_hash(raw)).update(**fields)
    return raw


def communicator(
    path: str, *, token: str | None = None, via: str = "subprotocol", application=None
) -> WebsocketCommunicator:
    from flowmatik.asgi import application as default_application

    subprotocols = None
    if token and via == "subprotocol":
        subprotocols = ["bearer", token]
    elif token:
        path = f"{path}?token={token}"
    return WebsocketCommunicator(
        application or default_application,
        path,
        headers=ORIGIN_HEADERS,
        subprotocols=subprotocols,
    )


class LiveAsgiServer:
    """uvicorn serving the real application in a thread, on a free port."""

    def __init__(self) -> None:
        from flowmatik.asgi import application

        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=0,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(serve())

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    async def run_in_server(self, fn, *args, **kwargs):
        """Run sync `fn` as a web request of the server process would.

        With Redis the channel layer is shared across processes, so `fn` runs right
        here; the in-memory layer lives in the server's event loop, so `fn` runs in
        a thread of that loop (as a Django view would) and its pushes reach it.
        """
        if settings.REDIS_URL:
            return await sync_to_async(fn)(*args, **kwargs)
        future = asyncio.run_coroutine_threadsafe(
            sync_to_async(fn)(*args, **kwargs), self.loop
        )
        return await asyncio.wrap_future(future)


@pytest.fixture
def live_asgi(transactional_db):
    server = LiveAsgiServer()
    server.start()
    yield server
    server.stop()
