"""Static files in production: collectstatic (hashed, compressed names) then the
ASGI app itself (servestatic) serves the admin's CSS, Swagger UI from
drf-spectacular-sidecar, the portal's assets and the npm packages, with long-lived
caching headers, under uvicorn with production settings (DEBUG false). Also: the
npm finder serves only the files it names, and the development path serves
straight from the finders."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

BASE_DIR = Path(settings.BASE_DIR)
SECRET = "static-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """collectstatic into a scratch STATIC_ROOT, then uvicorn on production
    settings (no Redis, no database tables needed for these pages)."""
    tmp = tmp_path_factory.mktemp("static")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DATABASE_URL", "DEBUG"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "flowmatik.settings.production",
            "FLOWMATIK_READ_DOT_ENV": "false",
            "FLOWMATIK_VAR_DIR": str(tmp / "var"),
            "STATIC_ROOT": str(tmp / "static"),
            "SECRET_KEY": SECRET,
            "JWT_SECRET": SECRET,
            "ALLOWED_HOSTS": "localhost",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            "LOG_STORE_ENABLED": "false",
            "METRICS_ENABLED": "false",
        }
    )
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert collect.returncode == 0, collect.stderr[-3000:]
    port = _free_port()
    log = (tmp / "uvicorn.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own ASGI app
        [
            sys.executable,
            "-m",
            "uvicorn",
            "flowmatik.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "on",
            "--no-access-log",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                log.flush()
                raise AssertionError((tmp / "uvicorn.log").read_text()[-3000:])
            time.sleep(0.3)
        with httpx.Client(
            base_url=base,
            headers={"Host": "localhost", "X-Forwarded-Proto": "https"},
            timeout=20,
        ) as http:
            yield http
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _assets(html: str, kind: str) -> list[str]:
    pattern = (
        r'<link rel="stylesheet"[^>]+href="(/static/[^"]+)"'
        if kind == "css"
        else (r'<script[^>]+src="(/static/[^"]+)"')
    )
    return re.findall(pattern, html)


def _assert_served_for_long(http: httpx.Client, url: str, content_type: str) -> None:
    response = http.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200, url
    assert response.headers["content-type"].startswith(content_type), url
    cache = response.headers["cache-control"]
    max_age = int(re.search(r"max-age=(\d+)", cache).group(1))
    assert max_age >= 365 * 86400, (url, cache)
    assert "immutable" in cache, (url, cache)
    assert response.content, url


def test_production_serves_admin_swagger_and_portal_assets_with_caching(
    production_server,
):
    http = production_server
    login = http.get("/login/")
    assert login.status_code == 200
    css, js = _assets(login.text, "css"), _assets(login.text, "js")
    # Hashed names from the manifest, for the portal's CSS and JS and for htmx
    assert any(re.search(r"/portal/css/portal\.[0-9a-f]{12}\.css$", u) for u in css)
    assert any(re.search(r"/vendor/htmx/htmx\.min\.[0-9a-f]{12}\.js$", u) for u in js)
    for url in css:
        _assert_served_for_long(http, url, "text/css")
    for url in js:
        _assert_served_for_long(http, url, "text/javascript")

    admin = http.get("/admin/login/")
    assert admin.status_code == 200
    admin_css = _assets(admin.text, "css")
    assert any("/admin/css/base." in url for url in admin_css)
    for url in admin_css:
        _assert_served_for_long(http, url, "text/css")

    docs = http.get("/api/docs/")
    assert docs.status_code == 200
    swagger = [u for u in _assets(docs.text, "js") if "swagger-ui-dist" in u]
    assert swagger, docs.text[:2000]
    for url in swagger:
        _assert_served_for_long(http, url, "text/javascript")
    assert "cdn" not in docs.text.lower()


def test_production_compresses_and_refuses_what_it_does_not_have(production_server):
    http = production_server
    url = next(u for u in _assets(http.get("/login/").text, "css") if "portal/css" in u)
    gzipped = http.get(url, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers.get("content-encoding") == "gzip"
    # node_modules files the finder does not name are never collected or served
    assert http.get("/static/vendor/htmx/htmx.js").status_code == 404
    assert http.get("/static/htmx.org/package.json").status_code == 404


def test_npm_finder_finds_only_the_named_dist_files():
    assert finders.find("vendor/htmx/htmx.min.js") == str(
        Path(settings.NPM_ROOT) / "htmx.org" / "dist" / "htmx.min.js"
    )
    assert finders.find("vendor/htmx/htmx.js") is None
    listed = {
        os.path.join(getattr(storage, "prefix", "") or "", path)
        for finder in finders.get_finders()
        if type(finder).__name__ == "NpmFinder"
        for path, storage in finder.list([])
    }
    assert listed == set(settings.NPM_STATIC_FILES)


def test_missing_npm_files_are_reported_by_the_system_checks(settings, tmp_path):
    from flowmatik.static_npm import NpmFinder

    settings.NPM_ROOT = tmp_path
    messages = NpmFinder().check()
    assert [m.id for m in messages] == ["flowmatik.W010"]
    assert "make setup" in messages[0].hint
