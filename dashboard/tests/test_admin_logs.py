"""`/api/admin/logs`: the JSON log lines kept queryable, filters and pagination;
the handler buffers, never blocks or fails the code that logs."""

import io
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from dashboard.models import LogRecord
from flowmatik.jsonlog import RequestContextFilter
from flowmatik.logstore import QueryableLogHandler

logger = logging.getLogger("flowmatik.tests.logs")


@pytest.fixture
def store(settings):
    """A queryable handler on the `flowmatik` loggers (the access line's and this
    module's), enabled for this test, as the root's is in production."""
    settings.LOG_STORE_ENABLED = True
    handler = QueryableLogHandler(level=logging.INFO)
    handler.addFilter(RequestContextFilter())
    parent = logging.getLogger("flowmatik")
    saved = parent.level, parent.disabled, logger.disabled
    parent.setLevel(logging.INFO)
    parent.disabled = logger.disabled = False
    parent.addHandler(handler)
    yield handler
    parent.removeHandler(handler)
    parent.level, parent.disabled, logger.disabled = saved
    handler.buffer.clear()


def test_the_root_logger_keeps_records_queryable():
    assert any(
        isinstance(handler, QueryableLogHandler)
        for handler in logging.getLogger().handlers
    )


def _get(client, **params) -> dict:
    response = client.get("/api/admin/logs", params)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_log_lines_of_real_requests_are_stored_and_filterable(store, staff_client):
    staff_client.get("/api/payments/plans", HTTP_X_REQUEST_ID="req-logs-1")
    logger.warning(
        "Card declined for Bearer sk_live_abcdef123456", extra={"service": "billing"}
    )
    logger.error("Provider down", extra={"service": "ai", "provider": "demo"})
    logger.info("Routine", extra={"service": "ai"})
    assert store.flush_now() >= 4

    by_request = _get(staff_client, request_id="req-logs-1")
    [access] = [row for row in by_request["results"] if row["service"] == "access"]
    assert access["message"] == "GET /api/payments/plans 200"
    assert access["data"]["status"] == 200
    assert access["data"]["path"] == "/api/payments/plans"

    severe = _get(staff_client, level="warning")["results"]
    assert [row["message"] for row in severe][:2] == [
        "Provider down",
        "Card declined for Bearer [REDACTED]",
    ]
    assert {row["level"] for row in severe} <= {"warning", "error", "critical"}

    ai_rows = _get(staff_client, service="ai")["results"]
    assert [row["message"] for row in ai_rows] == ["Routine", "Provider down"]
    assert ai_rows[1]["data"]["provider"] == "demo"
    assert [row["message"] for row in _get(staff_client, q="declined")["results"]] == [
        "Card declined for Bearer [REDACTED]"
    ]


@pytest.mark.django_db
def test_user_time_range_and_pagination(store, staff_client):
    now = datetime.now(tz=UTC)
    LogRecord.objects.bulk_create(
        [
            LogRecord(
                timestamp=now - timedelta(minutes=minutes),
                level="info",
                service="ai",
                message=f"call {minutes}",
                user_id="42" if minutes % 2 else "7",
                request_id=f"req-{minutes}",
            )
            for minutes in range(10)
        ]
    )
    mine = _get(staff_client, user_id="42")
    assert mine["count"] == 5
    window = _get(
        staff_client,
        since=(now - timedelta(minutes=4, seconds=30)).isoformat(),
        until=(now - timedelta(minutes=1, seconds=30)).isoformat(),
    )
    assert [row["message"] for row in window["results"]] == [
        "call 2",
        "call 3",
        "call 4",
    ]
    first = _get(staff_client, page_size=4)
    assert first["count"] == 10
    assert [row["message"] for row in first["results"]] == [
        "call 0",
        "call 1",
        "call 2",
        "call 3",
    ]
    assert first["next"] is not None
    third = _get(staff_client, page_size=4, page=3)
    assert [row["message"] for row in third["results"]] == ["call 8", "call 9"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [{"level": "loud"}, {"since": "yesterday"}, {"page": "0"}, {"page_size": "x"}],
)
def test_bad_log_parameters_are_400(staff_client, params):
    response = staff_client.get("/api/admin/logs", params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


@pytest.mark.django_db
def test_anonymous_401_normal_and_premium_403(user):
    assert APIClient().get("/api/admin/logs").status_code == 401
    premium = UserFactory()
    subscription_row(user=premium, plan="pro")
    for who in (user, premium):
        client = APIClient()
        client.force_authenticate(user=who)
        assert client.get("/api/admin/logs").status_code == 403


def test_a_full_buffer_drops_and_counts_instead_of_blocking(store, settings):
    settings.LOG_STORE_BUFFER_SIZE = 2
    for index in range(5):
        logger.warning("burst %s", index)
    assert len(store.buffer) == 2
    assert store.dropped == 3


def test_an_unreachable_database_loses_the_batch_not_the_process(store, monkeypatch):
    from dashboard.services import logs

    def broken(**kwargs):
        raise ConnectionError("database down")

    logger.warning("will be lost")
    monkeypatch.setattr(logs, "log_records_store", broken)
    assert store.flush_now() == 0
    assert store.dropped == 1
    assert not store.buffer


def test_records_stored_in_the_flush_path_itself_are_not_stored_again(store):
    logging.getLogger("django.db.backends").warning("SELECT 1")
    assert not store.buffer


@pytest.mark.django_db(transaction=True)
def test_the_flusher_thread_writes_without_anyone_asking(settings):
    settings.LOG_STORE_ENABLED = True
    settings.LOG_STORE_FLUSH_SECONDS = 0.05
    handler = QueryableLogHandler(level=logging.WARNING)
    saved = logger.level, logger.disabled
    logger.setLevel(logging.WARNING)
    logger.disabled = False
    logger.addHandler(handler)
    try:
        logger.warning("from the background")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if LogRecord.objects.filter(message="from the background").exists():
                break
            time.sleep(0.05)
        assert LogRecord.objects.filter(message="from the background").exists(), (
            f"dropped={handler.dropped} buffered={len(handler.buffer)}"
        )
    finally:
        logger.level, logger.disabled = saved
        logger.removeHandler(handler)
        handler._pid = None  # stops its thread


@pytest.mark.django_db
def test_a_record_is_formatted_once_for_stdout_and_the_store(store, monkeypatch):
    from flowmatik import jsonlog

    dumps_calls = []
    real_format = jsonlog.JsonFormatter._format

    def counting_format(self, record):
        if record.getMessage() == "Quota low":
            dumps_calls.append(record)  # a line of this record formatted
        return real_format(self, record)

    monkeypatch.setattr(jsonlog.JsonFormatter, "_format", counting_format)
    stdout = io.StringIO()
    printer = logging.StreamHandler(stdout)
    printer.setFormatter(jsonlog.JsonFormatter())
    printer.addFilter(RequestContextFilter())
    logger.addHandler(printer)
    try:
        logger.warning("Quota low", extra={"service": "usage", "remaining": 3})
    finally:
        logger.removeHandler(printer)

    assert len(dumps_calls) == 1
    assert store.flush_now() == 1
    line = json.loads(stdout.getvalue())
    row = LogRecord.objects.get(message="Quota low")
    assert (row.level, row.service, row.data) == ("warning", "usage", {"remaining": 3})
    assert line["message"] == row.message
    assert line["remaining"] == 3


@pytest.mark.django_db
def test_successful_requests_access_lines_can_be_left_out_of_the_store(
    store, staff_client, settings, caplog
):
    settings.LOG_STORE_ACCESS_SAMPLE_RATE = 0
    caplog.set_level(logging.INFO, logger="flowmatik.access")
    staff_client.get("/api/payments/plans", HTTP_X_REQUEST_ID="req-sampled-ok")
    staff_client.get("/api/no-such-thing", HTTP_X_REQUEST_ID="req-sampled-404")
    store.flush_now()

    stored = set(
        LogRecord.objects.filter(service="access").values_list("request_id", flat=True)
    )
    assert stored == {"req-sampled-404"}
    printed = {r.requestId for r in caplog.records if r.name == "flowmatik.access"}
    assert {"req-sampled-ok", "req-sampled-404"} <= printed  # stdout keeps both
