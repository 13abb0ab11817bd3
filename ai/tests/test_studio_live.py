"""The studio end to end: a real Celery worker, the platform over HTTP (uvicorn).

A text job goes queued → running → succeeded in a real worker (result stored,
usage settled, progress pushed on the user's channel group, a notification
stored); a text job canceled while its model call runs (not charged); the job's
Server-Sent Events; assets served to their owner only.
"""

import asyncio
import io
import json
import uuid
from decimal import Decimal

import httpx
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from celery.contrib.testing.worker import start_worker
from channels.layers import get_channel_layer

from accounts.tests.factories import UserFactory
from ai.models import ContentJob
from ai.tasks import job_run_task
from billing.tests.factories import subscription_row
from flowmatik import realtime
from flowmatik.celery import app as celery_app
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.servers import wait_for
from notifications.models import Notification

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture
def owner(transactional_db):
    user = UserFactory()
    subscription_row(user=user, plan="pro")
    return user


@pytest.fixture
def enqueued(monkeypatch) -> list[dict]:
    """Jobs the web process enqueues, held back: the test runs the worker's step."""
    calls: list[dict] = []
    monkeypatch.setattr(job_run_task, "apply_async", lambda **kw: calls.append(kw))
    return calls


def _headers(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_for(user)}"}


def _create(live_asgi, user, body) -> dict:
    response = httpx.post(
        f"{live_asgi}/api/ai/generate-content",
        json=body,
        headers=_headers(user),
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def _drain(channel: str) -> list[dict]:
    """Every message queued for `channel` (one event loop for all the reads)."""

    async def collect():
        layer = get_channel_layer()
        found = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.5)
            except TimeoutError:
                return found
            found.append(message["event"])

    return async_to_sync(collect)()


def test_a_text_job_runs_end_to_end_in_a_real_worker(
    live_asgi, owner, settings, fresh_channel_layers
):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.STUDIO_TASK_QUEUE = queue
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.user_group(owner.pk), channel)

    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        # the web process answers 202 at once; the worker picks the job up
        job = _create(
            live_asgi,
            owner,
            {"type": "blog_post", "prompt": "Cold brew at home", "options": {}},
        )
        assert job["status"] == "queued"
        assert wait_for(
            lambda: ContentJob.objects.get(pk=job["id"]).status == "succeeded",
            timeout=30,
        )

    body = httpx.get(
        f"{live_asgi}/api/ai/jobs/{job['id']}", headers=_headers(owner), timeout=10
    ).json()
    assert body["result"]["title"] == "Cold brew at home"
    assert body["progress"] == 100
    assert body["usage"]["total_tokens"] > 0

    from usage.models import UsageRecord
    from usage.services import usage_events_drain

    usage_events_drain()
    record = UsageRecord.objects.get(user=owner, endpoint="studio.blog_post")
    assert record.status == "success"
    assert record.total_tokens == body["usage"]["total_tokens"]

    events = _drain(channel)
    progress = [e for e in events if e.get("type") == "job.progress"]
    assert [e["status"] for e in progress][-1] == "succeeded"
    assert {e["status"] for e in progress[:-1]} == {"running"}
    values = [e["progress"] for e in progress]
    assert values == sorted(values)
    assert values[-1] == 100
    notification = [e for e in events if e.get("type") == "notification"]
    assert notification[0]["kind"] == "job.completed"
    assert Notification.objects.filter(user=owner, kind="job.completed").count() == 1


def _sse(lines) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
            if name == "done":
                break
    return events


def test_job_events_stream_progress_then_the_finished_job(
    live_asgi, owner, settings, enqueued
):
    settings.STUDIO_SSE_POLL_SECONDS = 0.05
    job = _create(live_asgi, owner, {"type": "email", "prompt": "Welcome aboard"})
    url = f"{live_asgi}/api/ai/jobs/{job['id']}/events"
    with httpx.stream("GET", url, headers=_headers(owner), timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first[6:])["status"] == "queued"
        assert [c["args"] for c in enqueued] == [[job["id"]]]
        job_run_task(job["id"])  # the worker's step, while the client listens
        events = _sse(lines)
    assert events[-1][0] == "done"
    finished = events[-1][1]
    assert finished["status"] == "succeeded"
    assert finished["result"]["subject"] == "Welcome aboard"
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress)
    assert progress[-1] == 100


def test_job_events_of_another_users_job_are_404(live_asgi, owner, enqueued):
    job = _create(live_asgi, owner, {"type": "email", "prompt": "Hi"})
    stranger = UserFactory()
    response = httpx.get(
        f"{live_asgi}/api/ai/jobs/{job['id']}/events",
        headers=_headers(stranger),
        timeout=10,
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    anonymous = httpx.get(f"{live_asgi}/api/ai/jobs/{job['id']}/events", timeout=10)
    assert anonymous.status_code == 401


def test_assets_are_served_to_their_owner_only_over_http(live_asgi, owner, enqueued):
    from PIL import Image

    job = _create(
        live_asgi,
        owner,
        {"type": "image", "prompt": "A red fox", "options": {"size": "512x768"}},
    )
    job_run_task(job["id"])
    body = httpx.get(
        f"{live_asgi}/api/ai/jobs/{job['id']}", headers=_headers(owner), timeout=10
    ).json()
    [asset] = body["assets"]
    signed = f"{live_asgi}{asset['url']}"
    bare = signed.split("?")[0]

    image = httpx.get(signed, timeout=10)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (512, 768)
    # the owner's credentials serve it too, with ranges
    part = httpx.get(
        bare, headers={**_headers(owner), "Range": "bytes=0-7"}, timeout=10
    )
    assert part.status_code == 206
    assert part.content == b"\x89PNG\r\n\x1a\n"
    assert part.headers["content-range"] == f"bytes 0-7/{asset['size_bytes']}"
    # another user: 404 with or without the owner's signed link
    stranger = _headers(UserFactory())
    assert httpx.get(bare, headers=stranger, timeout=10).status_code == 404
    assert httpx.get(signed, headers=stranger, timeout=10).status_code == 404
    assert httpx.get(bare, timeout=10).status_code == 404


async def test_progress_and_completion_reach_the_notification_socket(
    live_asgi, owner, enqueued
):
    from websockets.asyncio.client import connect

    job = await sync_to_async(_create)(
        live_asgi, owner, {"type": "email", "prompt": "Welcome aboard"}
    )
    async with connect(
        f"{live_asgi.ws_url}/ws/notifications/",
        origin="http://127.0.0.1",
        subprotocols=["bearer", jwt_for(owner)],
        open_timeout=5,
    ) as ws:
        await live_asgi.run_in_server(job_run_task, job["id"])
        frames = []
        while not frames or frames[-1].get("type") != "notification":
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    progress = [f for f in frames if f["type"] == "job.progress"]
    assert all(f["job_id"] == job["id"] for f in progress)
    assert [f["progress"] for f in progress] == sorted(f["progress"] for f in progress)
    assert (progress[-1]["status"], progress[-1]["progress"]) == ("succeeded", 100)
    assert frames[-1]["kind"] == "job.completed"
    assert frames[-1]["data"] == {
        "job_id": job["id"],
        "job_type": "email",
        "status": "succeeded",
    }


def test_a_text_job_canceled_while_its_model_call_runs_is_not_charged(
    live_asgi, owner, settings, ai_demo
):
    """Canceled over HTTP mid-call in a real worker: the answer that arrives after
    is settled as an error, so the job costs nothing and its request is uncounted."""
    from usage.models import UsageRecord
    from usage.selectors import quota_state_for_user
    from usage.services import usage_events_drain

    def records():
        usage_events_drain()
        return list(UsageRecord.objects.filter(user=owner, endpoint="studio.email"))

    queue = f"test-{uuid.uuid4().hex[:12]}"
    settings.STUDIO_TASK_QUEUE = queue
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        job = _create(
            live_asgi,
            owner,
            {"type": "email", "prompt": "[[delay:1.5]] Slow launch", "options": {}},
        )
        assert wait_for(lambda: len(ai_demo.chat_calls()) == 1, timeout=30)
        assert quota_state_for_user(user_id=owner.pk).requests_used == 1  # in flight
        canceled = httpx.post(
            f"{live_asgi}/api/ai/jobs/{job['id']}/cancel",
            headers=_headers(owner),
            timeout=10,
        )
        assert canceled.status_code == 200, canceled.text
        assert canceled.json()["status"] == "canceled"
        assert wait_for(lambda: len(records()) == 1, timeout=30)

    [record] = records()
    assert record.status == "error"
    assert record.error_code == "job_canceled"
    assert (record.total_tokens, record.cost) == (0, 0)
    quota = quota_state_for_user(user_id=owner.pk)
    assert (quota.requests_used, quota.tokens_used, quota.tokens_reserved) == (0, 0, 0)
    body = httpx.get(
        f"{live_asgi}/api/ai/jobs/{job['id']}", headers=_headers(owner), timeout=10
    ).json()
    assert body["status"] == "canceled"
    assert body["usage"]["total_tokens"] == 0
    assert Decimal(body["cost"]) == 0
    assert body["result_text"] in ("", None)
    assert len(ai_demo.chat_calls()) == 1  # the canceled job asked for nothing more
