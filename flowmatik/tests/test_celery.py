"""Celery round trips through a real worker, and proof that late acks are in force."""

import json
import uuid

import pytest
from celery.contrib.testing.worker import start_worker

from flowmatik.celery import app as celery_app


@celery_app.task(bind=True, name="flowmatik.tests.probe")
def probe(self, value: int, redis_url: str = "") -> dict:
    """Double `value`; on Redis, also report whether our message is still unacked."""
    still_unacked = None
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        payloads = client.hvals("unacked")
        still_unacked = any(self.request.id.encode() in payload for payload in payloads)
    return {"value": value * 2, "unacked_while_running": still_unacked}


@pytest.fixture
def worker_queue():
    """A queue of our own, so parallel test runs sharing a broker never steal tasks."""
    return f"test-{uuid.uuid4().hex[:12]}"


def test_task_round_trip_through_a_real_worker(transactional_db, worker_queue):
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[worker_queue]
    ):
        result = probe.apply_async(args=[21], queue=worker_queue)
        assert result.get(timeout=30)["value"] == 42


def test_message_is_acknowledged_only_after_the_task_ran(
    transactional_db, redis_url, worker_queue
):
    if not celery_app.conf.broker_url.startswith("redis"):
        pytest.skip("the unacked-message proof reads Redis broker state")
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[worker_queue]
    ):
        result = probe.apply_async(
            args=[1], kwargs={"redis_url": redis_url}, queue=worker_queue
        )
        outcome = result.get(timeout=30)
    assert outcome["unacked_while_running"] is True
    import redis

    leftovers = redis.Redis.from_url(redis_url).hvals("unacked")
    assert not any(result.id.encode() in payload for payload in leftovers)


@celery_app.task(name="flowmatik.tests.context_probe")
def context_probe() -> dict:
    import logging

    from flowmatik.request_context import request_id_var, user_id_var

    logging.getLogger("flowmatik.tests").warning("probe ran")
    return {"request_id": request_id_var.get(), "user_id": user_id_var.get()}


def test_task_log_lines_carry_the_request_id_of_the_request_that_queued_it(
    transactional_db, worker_queue, caplog
):
    import logging

    from flowmatik.jsonlog import JsonFormatter, RequestContextFilter
    from flowmatik.request_context import request_id_var, user_id_var

    caplog.set_level(logging.WARNING, logger="flowmatik.tests")
    caplog.handler.addFilter(RequestContextFilter())
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[worker_queue]
    ):
        request_token = request_id_var.set("req_from_the_web")
        user_token = user_id_var.set("42")
        try:
            queued = context_probe.apply_async(queue=worker_queue)
        finally:
            request_id_var.reset(request_token)
            user_id_var.reset(user_token)
        assert queued.get(timeout=30) == {
            "request_id": "req_from_the_web",
            "user_id": "42",
        }
        # A task queued outside any request (beat) is still identifiable.
        orphan = context_probe.apply_async(queue=worker_queue)
        assert orphan.get(timeout=30)["request_id"] == f"task_{orphan.id}"
    lines = [
        json.loads(JsonFormatter().format(record))
        for record in caplog.records
        if record.getMessage() == "probe ran"
    ]
    assert [line["requestId"] for line in lines] == [
        "req_from_the_web",
        f"task_{orphan.id}",
    ]
    assert lines[0]["userId"] == "42"
