"""The demo model paces its stream (AI_DEMO_TOKENS_PER_SECOND), so streaming is
visible in the portal; unpaced (0) it answers at once, as the tests' demo runs."""

import time

import httpx
import pytest
from django.core.management import call_command

from ai.demo.app import create_app
from flowmatik.testing.servers import LiveAsgiServer


@pytest.fixture(scope="module")
def demo():
    app = create_app()
    server = LiveAsgiServer(app, log_level="critical").start()
    yield server, app.state.demo
    server.stop()


def _stream_seconds(server) -> tuple[float, int]:
    started = time.monotonic()
    chunks = 0
    with httpx.stream(
        "POST",
        f"{server.http_url}/v1/chat/completions",
        headers={"Authorization": "Bearer demo"},
        json={
            "model": "flowmatik-demo",
            "stream": True,
            "messages": [{"role": "user", "content": "pace me [[words:12]]"}],
        },
        timeout=20,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content"' in line:
                chunks += 1
    return time.monotonic() - started, chunks


def test_a_paced_demo_streams_at_the_set_rate(demo):
    server, state = demo
    state.tokens_per_second = 40
    try:
        paced, chunks = _stream_seconds(server)
    finally:
        state.tokens_per_second = 0
    assert chunks >= 10
    assert paced >= chunks / 40 * 0.9  # one sleep per token


def test_the_tests_demo_model_is_unpaced(demo, demo_server):
    server, state = demo
    assert state.tokens_per_second == 0  # create_app's default
    assert demo_server.state.tokens_per_second == 0  # the shared fixture's
    _, chunks = _stream_seconds(server)
    assert chunks >= 10


def test_demo_llm_command_paces_by_the_setting(monkeypatch, settings):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    settings.AI_DEMO_TOKENS_PER_SECOND = 25.0
    call_command("demo_llm", port=8799)
    assert seen["app"].state.demo.tokens_per_second == 25.0
