"""Request ids travel in and out; every log line is JSON with the documented fields."""

import asyncio
import io
import json
import logging

import pytest

from flowmatik.jsonlog import JsonFormatter, RequestContextFilter
from flowmatik.request_context import get_request_id, user_id_var

DOCUMENTED_FIELDS = {"timestamp", "level", "service", "message", "userId", "requestId"}


@pytest.fixture
def captured_logs():
    """Capture `flowmatik.*` records through the real formatter and filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("flowmatik")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.mark.django_db
def test_incoming_request_id_is_returned_and_logged(client, captured_logs):
    response = client.get("/health", HTTP_X_REQUEST_ID="req_abc-123")
    assert response["X-Request-ID"] == "req_abc-123"
    access = [line for line in captured_logs() if line["service"] == "access"]
    assert len(access) == 1
    line = access[0]
    assert set(line) >= DOCUMENTED_FIELDS
    assert line["requestId"] == "req_abc-123"
    assert line["level"] == "info"
    assert line["method"] == "GET"
    assert line["path"] == "/health"
    assert line["status"] == 200
    assert isinstance(line["durationMs"], float | int)
    assert line["timestamp"].endswith("Z")


@pytest.mark.django_db
def test_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client):
    generated = client.get("/health")["X-Request-ID"]
    assert generated.startswith("req_")
    unsafe = client.get("/health", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert unsafe["X-Request-ID"].startswith("req_")
    assert unsafe["X-Request-ID"] != generated


@pytest.mark.django_db
def test_authenticated_requests_log_the_user_id(client, user, captured_logs):
    client.force_login(user)
    client.get("/api/does-not-exist")
    access = [line for line in captured_logs() if line["service"] == "access"]
    assert access[-1]["status"] == 404
    assert access[-1]["userId"] == str(user.pk)


def test_extras_are_kept_and_secrets_redacted(captured_logs):
    logger = logging.getLogger("flowmatik.ai")
    logger.info(
        "AI chat request processed with Bearer abc.def.ghi",
        extra={"cost": 0.05, "tokens": 1500, "password": "hunter2", "api_key": "fmk_x"},
    )
    (line,) = captured_logs()
    assert set(line) >= DOCUMENTED_FIELDS
    assert line["cost"] == 0.05
    assert line["tokens"] == 1500
    assert line["password"] == "[REDACTED]"
    assert line["api_key"] == "[REDACTED]"
    assert "abc.def.ghi" not in line["message"]
    assert line["requestId"] is None  # outside a request nothing leaks in
    assert line["service"] == "flowmatik.ai"


@pytest.mark.urls("flowmatik.tests.urls")
def test_after_a_streamed_response_code_outside_any_request_sees_no_request_id(
    client,
):
    response = client.get("/api/test/stream", HTTP_X_REQUEST_ID="req_streamed")

    assert b"".join(response.streaming_content) == b"req_streamed"
    assert get_request_id() is None
    assert user_id_var.get() is None


@pytest.mark.urls("flowmatik.tests.urls")
async def test_a_streamed_body_over_asgi_is_produced_under_its_request_id():
    from flowmatik.asgi import application

    sent = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/test/astream",
        "raw_path": b"/api/test/astream",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"x-request-id", b"req_asgi")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    await application(scope, receive, send)

    body = b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )
    assert sent[0]["status"] == 200
    assert body == b"req_asgi"


def _line_of(logger_name: str, message: str, **extra) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info(message, extra=extra)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
    return stream.getvalue().rstrip("\n")


def test_a_log_line_is_compact_json_with_every_field():
    line = _line_of(
        "flowmatik.ai",
        "AI chat ok",
        model="flowmatik-demo",
        tokens=12,
        cost="0.000012",
        estimated=False,
        errorCode="",
        note="Olá ✓",
    )
    # one JSON object, no blank after its separators (a shorter line to write)
    assert ", " not in line
    assert '": ' not in line
    fields = json.loads(line)
    assert set(fields) >= DOCUMENTED_FIELDS
    assert fields["tokens"] == 12
    assert fields["cost"] == "0.000012"
    assert fields["estimated"] is False
    assert fields["note"] == "Olá ✓"  # UTF-8, not \\u escapes
    assert "\\u" not in line


def test_extras_json_cannot_write_as_such_are_written_as_before():
    from datetime import UTC, datetime

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    line = _line_of(
        "flowmatik.ai",
        "odd extras",
        at=at,
        counts={1: "a"},
        huge=2**70,
        secret_token="abc",  # a name that must be redacted
        nested={"api_key": "fmk_x", "ok": "fine"},
    )
    fields = json.loads(line)
    assert fields["at"] == str(at)
    assert fields["counts"] == {"1": "a"}
    assert fields["huge"] == 2**70
    assert fields["secret_token"] == "[REDACTED]"
    assert fields["nested"] == {"api_key": "[REDACTED]", "ok": "fine"}
