"""`make logs-tail` (scripts/logs_tail.py): the JSON log lines the platform writes,
pretty-printed, filtered by level and by request id."""

import json
import logging
import subprocess
import sys
from pathlib import Path

from flowmatik.jsonlog import JsonFormatter

ROOT = Path(__file__).resolve().parents[2]


def _line(level: int, message: str, request_id: str) -> str:
    record = logging.LogRecord("ai.chat", level, __file__, 1, message, None, None)
    record.requestId = request_id
    record.model = "demo"
    return JsonFormatter().format(record)


def _tail(lines: list[str], *args: str) -> list[str]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "scripts/logs_tail.py", "-", *args],
        cwd=ROOT,
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.splitlines()


LINES = [
    _line(logging.INFO, "chat answered", "req-1"),
    _line(logging.ERROR, "provider failed", "req-2"),
    "INFO:     Uvicorn running on http://127.0.0.1:8000",
]


def test_logs_tail_pretty_prints_json_lines_and_keeps_other_lines():
    shown = _tail(LINES)

    assert len(shown) == 3
    assert "INFO" in shown[0]
    assert "ai.chat [req-1] chat answered" in shown[0]
    assert 'model="demo"' in shown[0]
    assert not shown[0].startswith("{")
    assert shown[2] == LINES[2]


def test_logs_tail_keeps_the_level_asked_and_worse():
    shown = _tail(LINES, "--level", "warning")

    assert len(shown) == 1
    assert "provider failed" in shown[0]


def test_logs_tail_keeps_one_request():
    shown = _tail(LINES, "--request-id", "req-1")

    assert len(shown) == 1
    assert "chat answered" in shown[0]
    assert json.loads(LINES[0])["requestId"] == "req-1"
