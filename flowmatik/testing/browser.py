"""Browser tests: headless Debian Chromium driven by Playwright's sync API.

Fixtures (registered with the shared plugin; mark such tests `browser`):

- `browser_page`: a page of a Chromium started for the test (a new empty
  user-data-dir, so no cookies or storage). Chromium is Debian's
  (`/usr/bin/chromium`, or `CHROMIUM_PATH`) launched through `executable_path`
  with the flags of `CHROMIUM_ARGS`; never run `playwright install`. Uncaught
  JavaScript errors are collected in `page.errors`, console errors (a failed
  load, a refused script) in `page.console_errors`; a failing test saves a
  screenshot.
- `portal_server`: the whole platform in uvicorn (`live_asgi`) with the demo model
  answering chats (`ai_demo`), unpaced unless the test sets
  `portal_server.demo.state.tokens_per_second`; `portal_server.url(path)` builds an
  absolute URL.
- `login_in_browser(page, user, server)`: log `user` in (a real session, made by
  Django's own login) by setting the session cookie in the page's context.
- `screenshot(page, name)`: save `var/test-artifacts/<name>.png` (artefacts of CI).
- `csp_violations(page)`: the Content-Security-Policy refusals the page logged.
- `run_in_server(server, fn, ...)`: run sync `fn` (e.g. `notification_send`) as the
  server would, so its pushes reach the browser's sockets.

Without Chromium the browser tests skip, saying so (`.ci/run` installs it).
"""

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS_DIR = Path("var") / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# Playwright's default timeout for one action or assertion (ms): generous for a
# loaded 2-core CI box, still bounded.
DEFAULT_TIMEOUT_MS = int(os.environ.get("BROWSER_TIMEOUT_MS", "15000"))


def chromium_path() -> str | None:
    """Debian's Chromium: `CHROMIUM_PATH`, else /usr/bin/chromium, else on PATH."""
    for candidate in (
        os.environ.get("CHROMIUM_PATH", ""),
        "/usr/bin/chromium",
        shutil.which("chromium") or "",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as var/test-artifacts/<name>.png."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(request, monkeypatch, tmp_path) -> Iterator[Any]:
    """A new page of a Chromium started for this test; screenshot on failure.

    Playwright's sync API marks its event loop as running in the test's thread
    between calls, which makes Django refuse ORM calls there
    (SynchronousOnlyOperation): for the test's duration
    `DJANGO_ALLOW_ASYNC_UNSAFE` is set (the test's own database work is sync code
    in a sync test); Playwright's exit clears the loop again.
    """
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            downloads_path=str(tmp_path),
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 860}, locale="en-US"
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        page = context.new_page()
        errors: list[str] = []
        console_errors: list[str] = []

        def on_page_error(error: Any) -> None:
            errors.append(str(error))

        def on_console(message: Any) -> None:
            if message.type == "error":
                console_errors.append(message.text)

        page.on("pageerror", on_page_error)
        page.on("console", on_console)
        page.errors = errors  # type: ignore[attr-defined]
        page.console_errors = console_errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            report = getattr(request.node, "_report_call", None)
            if report is not None and report.failed:
                with contextlib.suppress(Exception):  # the page may be gone
                    screenshot(page, f"FAILED-{request.node.name}")
            context.close()
            browser.close()


@dataclass
class PortalServer:
    server: Any  # flowmatik.testing.servers.LiveAsgiServer
    demo: Any  # the demo model (flowmatik.testing.plugin.Demo)

    @property
    def http_url(self) -> str:
        return self.server.http_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    def url(self, path: str = "/") -> str:
        return f"{self.server.http_url}{path}"

    def __str__(self) -> str:
        return self.server.http_url


@pytest.fixture
def portal_server(live_asgi, ai_demo) -> PortalServer:
    """The platform in uvicorn with the demo model; streams unpaced by default."""
    ai_demo.state.tokens_per_second = 0
    return PortalServer(live_asgi, ai_demo)


def login_in_browser(page: Any, user: Any, server: Any) -> None:
    """Log `user` in for `page`: a real session (Django's login), its cookie set."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": cookie.value,
                "url": str(server).rstrip("/") + "/",
                "httpOnly": True,
                "sameSite": "Lax",
            }
        ]
    )


def csp_violations(page: Any) -> list[str]:
    """The console errors of `page` that are Content-Security-Policy refusals (an
    inline script or handler, an asset from elsewhere): each is a bug."""
    return [e for e in page.console_errors if "Content Security Policy" in e]


def run_in_server(server: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run sync `fn` as the live server's own code would (its pushes reach the
    server's sockets), from a sync browser test; its result.

    Never in the test's thread: Playwright marks its loop as running there, so
    `async_to_sync` (the pushes after commit) would refuse. With Redis the channel
    layer is shared and `fn` runs in a thread of its own; the embedded default's
    in-memory layer lives in the server's event loop, so `fn` runs in a thread of
    that loop (see `LiveAsgiServer.run_in_server`).
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.db import connections

    live = getattr(server, "server", server)
    if not settings.REDIS_URL:
        future = asyncio.run_coroutine_threadsafe(
            sync_to_async(fn)(*args, **kwargs), live.loop
        )
        return future.result(timeout=30)

    def in_thread() -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(in_thread).result(timeout=30)


@pytest.fixture(name="login_in_browser")
def _login_in_browser():
    """`login_in_browser(page, user, server)` as a fixture."""
    return login_in_browser
