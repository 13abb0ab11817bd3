"""Real servers for tests: an ASGI app in uvicorn, in a thread, on a free port."""

import asyncio
import threading
import time
from typing import Any, Literal

import uvicorn
from asgiref.sync import sync_to_async
from django.conf import settings


class LiveAsgiServer:
    """uvicorn serving `app` on 127.0.0.1 (port 0: the OS picks a free one).

    `http_url` / `ws_url` are set once started; `str(server)` is `http_url`, so
    `f"{live_asgi}/api/..."` reads naturally.
    """

    def __init__(
        self,
        app: Any,
        *,
        log_level: str = "warning",
        lifespan: Literal["auto", "on", "off"] = "off",
    ) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan=lifespan,
            log_level=log_level,
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.http_url = ""
        self.ws_url = ""

    def __str__(self) -> str:
        return self.http_url

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(serve())

    def start(self, *, timeout: float = 10.0) -> "LiveAsgiServer":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        return self

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
        if self.loop is None:
            raise RuntimeError("The server is not started.")
        future = asyncio.run_coroutine_threadsafe(
            sync_to_async(fn)(*args, **kwargs), self.loop
        )
        return await asyncio.wrap_future(future)


def wait_for(predicate, timeout: float = 5.0) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
