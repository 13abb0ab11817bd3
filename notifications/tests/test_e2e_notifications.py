"""End to end over real sockets: uvicorn serving `flowmatik.asgi.application`.

The channel layer is channels-redis when REDIS_URL is set (CI), else in-memory.
"""

import asyncio
import json
import uuid

import httpx
import pytest
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from flowmatik import realtime
from flowmatik.celery import app as celery_app
from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.ws_auth import CLOSE_UNAUTHENTICATED
from notifications.models import NotificationKind
from notifications.services import notification_send
from notifications.tasks import notification_deliver

ORIGIN = "http://127.0.0.1"


def open_socket(live, path: str, token: str | None = None, *, via="subprotocol"):
    url = f"{live.ws_url}{path}"
    if token and via == "query":
        return connect(f"{url}?token={token}", origin=ORIGIN, open_timeout=5)
    subprotocols = ["bearer", token] if token else None
    return connect(url, origin=ORIGIN, subprotocols=subprotocols, open_timeout=5)


async def next_json(ws, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def assert_silent(ws, seconds: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), seconds)


async def test_jwt_by_subprotocol_and_api_key_by_query_both_authenticate(
    live_asgi, user
):
    async with open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as ws:
        assert ws.subprotocol == "bearer"
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_json(ws) == {"type": "pong"}

    key = await sync_to_async(api_key_for)(user)
    async with open_socket(live_asgi, "/ws/chat/", key, via="query") as ws:
        assert ws.subprotocol is None
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_json(ws) == {"type": "pong"}


async def test_bad_or_missing_token_is_closed_with_4401_the_client_can_read(
    live_asgi,
):
    for token in (None, "expired.or.forged"):
        async with open_socket(live_asgi, "/ws/notifications/", token) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == CLOSE_UNAUTHENTICATED
        assert closed.value.rcvd.reason == "unauthenticated"


async def test_notification_reaches_only_its_user_over_the_real_socket(
    live_asgi, user, other_user
):
    async with (
        open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as mine,
        open_socket(live_asgi, "/ws/notifications/", jwt_for(other_user)) as theirs,
    ):
        await live_asgi.run_in_server(
            notification_send,
            user=user,
            kind=NotificationKind.SUBSCRIPTION_CHANGED,
            title="You are on Pro now",
        )
        event = await next_json(mine)
        assert (event["kind"], event["title"]) == (
            "subscription.changed",
            "You are on Pro now",
        )
        await assert_silent(theirs)


async def test_missed_notifications_are_fetched_after_reconnect(live_asgi, user):
    token = jwt_for(user)
    async with open_socket(live_asgi, "/ws/notifications/", token) as ws:
        await live_asgi.run_in_server(
            notification_send, user=user, kind="job.progress", title="seen"
        )
        last_seen = (await next_json(ws))["created_at"]

    for title in ("missed 1", "missed 2"):  # sent while the client is away
        await live_asgi.run_in_server(
            notification_send, user=user, kind="job.progress", title=title
        )

    async with open_socket(live_asgi, "/ws/notifications/", token) as ws:
        async with httpx.AsyncClient(base_url=live_asgi.http_url) as http:
            response = await http.get(
                "/api/notifications",
                params={"since": last_seen},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200
        assert [n["title"] for n in response.json()["results"]] == [
            "missed 1",
            "missed 2",
        ]
        await live_asgi.run_in_server(
            notification_send, user=user, kind="job.completed", title="live again"
        )
        assert (await next_json(ws))["title"] == "live again"


async def test_open_sockets_are_counted_while_connected(live_asgi, user):
    await realtime.connection_count_publish()  # Redis agrees with the process
    before = await sync_to_async(realtime.connection_counts)()
    async with open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as ws:
        await ws.send(json.dumps({"type": "ping"}))
        await next_json(ws)  # the consumer has connected (and counted) by now
        during = await sync_to_async(realtime.connection_counts)()
    assert during["total"] == before["total"] + 1
    for _ in range(50):
        after = await sync_to_async(realtime.connection_counts)()
        if after["total"] == before["total"]:
            break
        await asyncio.sleep(0.05)
    assert after["total"] == before["total"]


@pytest.fixture
def celery_worker(redis_url):
    """A real Celery worker on the configured (Redis) broker, on its own queue."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=[queue]
    ):
        yield queue


async def test_notification_from_a_celery_task_arrives_on_the_socket(
    live_asgi, user, other_user, celery_worker
):
    async with (
        open_socket(live_asgi, "/ws/notifications/", jwt_for(user)) as mine,
        open_socket(live_asgi, "/ws/notifications/", jwt_for(other_user)) as theirs,
    ):
        result = notification_deliver.apply_async(
            kwargs={
                "user_id": user.pk,
                "kind": "job.completed",
                "title": "Your video is ready",
                "data": {"job_id": 42},
                "dedupe_key": f"job.completed:{uuid.uuid4().hex}",
            },
            queue=celery_worker,
        )
        event = await next_json(mine, timeout=20)
        assert (event["title"], event["data"]) == (
            "Your video is ready",
            {"job_id": 42},
        )
        assert event["id"] == await asyncio.to_thread(result.get, timeout=10)
        await assert_silent(theirs)
