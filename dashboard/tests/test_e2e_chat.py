"""`/ws/chat/` end to end: real socket, real ASGI server, real gateway, demo model."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from dashboard.tests.test_chat_socket import SLOW, assistant_messages, usage_record
from flowmatik.testing.auth import api_key_for, jwt_for
from notifications.tests.test_e2e_notifications import next_json, open_socket
from usage.models import QuotaOverride


@pytest.fixture
def chatter(live_asgi, catalogue_tx, user):
    return user


async def reply(ws) -> list[dict]:
    frames = []
    while not frames or frames[-1]["type"] not in ("done", "error", "cancelled"):
        frames.append(await next_json(ws, timeout=15))
    return frames


async def wait_until(predicate, timeout: float = 5.0):
    for _ in range(int(timeout / 0.05)):
        value = await sync_to_async(predicate)()
        if value:
            return value
        await asyncio.sleep(0.05)
    return await sync_to_async(predicate)()


async def test_reply_arrives_in_several_frames_before_done(live_asgi, chatter):
    key = await sync_to_async(api_key_for)(chatter)
    async with open_socket(live_asgi, "/ws/chat/", key) as ws:
        await ws.send(
            json.dumps({"type": "chat", "message": "[[words:50]] [[delay:0.01]] hi"})
        )
        frames = await reply(ws)

    assert frames[0]["type"] == "start"
    deltas = [f for f in frames if f["type"] == "delta"]
    assert 2 <= len(deltas) < 50
    assert [f["type"] for f in frames[-2:]] == ["usage", "done"]
    stored = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert stored.pk == frames[-1]["message_id"]
    assert stored.content == "".join(d["content"] for d in deltas)


async def test_cancel_mid_stream_closes_upstream_saves_partial_settles_usage(
    live_asgi, chatter, demo_server
):
    async with open_socket(live_asgi, "/ws/chat/", jwt_for(chatter)) as ws:
        await ws.send(json.dumps({"type": "chat", "message": SLOW, "request_id": "e1"}))
        assert (await next_json(ws, timeout=15))["type"] == "start"
        first = await next_json(ws)
        await ws.send(json.dumps({"type": "cancel"}))
        frames = await reply(ws)

    assert frames[-1]["type"] == "cancelled"
    assert "disconnected_after" in demo_server.chat_calls()[-1]
    partial = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert partial.status == "partial"
    assert partial.content.startswith(first["content"])
    record = await sync_to_async(usage_record)("e1")
    assert record.status == "partial"
    assert 0 < record.completion_tokens < 400


async def test_client_disconnect_mid_stream_cancels_the_generation(
    live_asgi, chatter, demo_server
):
    async with open_socket(live_asgi, "/ws/chat/", jwt_for(chatter)) as ws:
        await ws.send(json.dumps({"type": "chat", "message": SLOW, "request_id": "e2"}))
        assert (await next_json(ws, timeout=15))["type"] == "start"
        await next_json(ws)
    # the client is gone; the server must stop the generation on its own

    record = await wait_until(lambda: usage_record("e2"))
    assert record is not None
    assert record.status == "partial"
    call = demo_server.chat_calls()[-1]
    assert "disconnected_after" in call
    assert not call.get("completed")
    partial = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert partial.status == "partial"


async def test_quota_exhaustion_over_the_socket(live_asgi, chatter):
    await sync_to_async(QuotaOverride.objects.create)(user=chatter, requests_per_day=1)
    async with open_socket(live_asgi, "/ws/chat/", jwt_for(chatter)) as ws:
        await ws.send(json.dumps({"type": "chat", "message": "[[words:2]] one"}))
        assert (await reply(ws))[-1]["type"] == "done"
        await ws.send(json.dumps({"type": "chat", "message": "[[words:2]] two"}))
        error = await next_json(ws)
    assert (error["type"], error["code"]) == ("error", "quota_exceeded")


async def test_a_deeply_nested_frame_is_invalid_message_and_the_socket_stays(
    live_asgi, chatter
):
    async with open_socket(live_asgi, "/ws/chat/", jwt_for(chatter)) as ws:
        for frame in ("[" * 100_000 + "]" * 100_000, "{not json"):
            await ws.send(frame)
            error = await next_json(ws)
            assert (error["type"], error["code"]) == ("error", "invalid_message")
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_json(ws) == {"type": "pong"}


async def test_a_lone_surrogate_is_refused_before_the_provider(
    live_asgi, chatter, demo_server
):
    async with open_socket(live_asgi, "/ws/chat/", jwt_for(chatter)) as ws:
        # `json.dumps` escapes the surrogate as `\ud800`, as a browser would send it
        await ws.send(json.dumps({"type": "chat", "message": "x\ud800y"}))
        error = await next_json(ws)
        assert (error["type"], error["code"]) == ("error", "invalid_message")
        assert error["details"]["fields"] == {"message": ["Invalid Unicode."]}
        await ws.send(json.dumps({"type": "chat", "message": "hi there"}))
        assert (await reply(ws))[-1]["type"] == "done"
    assert len(demo_server.chat_calls()) == 1
