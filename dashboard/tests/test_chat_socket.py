"""`/ws/chat/` consumer logic (WebsocketCommunicator) against the real AI gateway.

The chat engine (`ai.services.chat_run`) calls the demo model over
HTTP; `[[words:N]]` sets the reply length and `[[delay:S]]` the pause per token.
"""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from ai.models import Message
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.websockets import communicator
from usage.models import QuotaOverride, UsageRecord
from usage.services import usage_events_drain

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = "[[words:400]] [[delay:0.03]] tell me a long story"


@pytest.fixture
def chatter(catalogue_tx, user):
    return user


async def chat_socket(user):
    comm = communicator("/ws/chat/", token=jwt_for(user))
    assert (await comm.connect())[0] is True
    return comm


async def collect_reply(comm, timeout: float = 10) -> list[dict]:
    frames = []
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] in ("done", "error", "cancelled"):
            return frames


async def wait_until(predicate, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await sync_to_async(predicate)()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


def usage_record(request_id: str) -> UsageRecord | None:
    """The settled call's record (on Redis, events are buffered until drained)."""
    usage_events_drain()
    return UsageRecord.objects.filter(request_id=request_id).first()


def assistant_messages(user) -> list[Message]:
    return list(
        Message.objects.filter(conversation__user=user, role="assistant").order_by("id")
    )


async def test_reply_streams_as_coalesced_deltas_then_usage_and_done(
    chatter, demo_server
):
    comm = await chat_socket(chatter)
    await comm.send_json_to(
        {
            "type": "chat",
            "message": "[[words:60]] [[delay:0.01]] hi",
            "request_id": "r1",
        }
    )

    frames = await collect_reply(comm)
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "start"
    assert kinds[-2:] == ["usage", "done"]
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) >= 2  # several frames before done...
    assert len(deltas) < 60  # ...but coalesced, not one frame per token
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    done, usage = frames[-1], frames[-2]
    assert usage["completion_tokens"] == 60
    stored = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert stored.pk == done["message_id"]
    assert stored.status == "complete"
    assert stored.content == "".join(d["content"] for d in deltas)
    assert stored.conversation_id == done["conversation_id"]
    assert demo_server.chat_calls()[-1]["request_id"] == "r1"
    await comm.disconnect()


async def test_the_first_delta_is_sent_at_once_and_later_ones_coalesced(
    chatter, demo_server, settings
):
    """Coalescing must not delay the first token: with a 400 ms window the first
    delta still arrives within a few token gaps of `start` (it waited the whole
    window before), and the rest arrive in few frames."""
    settings.WS_CHAT_COALESCE_MS = 400
    comm = await chat_socket(chatter)
    await comm.send_json_to(
        {
            "type": "chat",
            "message": "[[words:40]] [[delay:0.02]] hi",
            "request_id": "r2",
        }
    )
    loop = asyncio.get_running_loop()
    assert (await comm.receive_json_from(timeout=10))["type"] == "start"
    started = loop.time()
    first = await comm.receive_json_from(timeout=10)
    assert first["type"] == "delta"
    assert first["seq"] == 1
    assert loop.time() - started < 0.2  # not the 400 ms window
    frames = [first, *await collect_reply(comm)]
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) <= 5  # 40 tokens over ~0.8 s: a few windows
    stored = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert stored.content == "".join(d["content"] for d in deltas)
    await comm.disconnect()


async def test_cancel_stops_at_once_saving_the_partial_and_settling_usage(
    chatter, demo_server
):
    comm = await chat_socket(chatter)
    await comm.send_json_to({"type": "chat", "message": SLOW, "request_id": "r-cut"})
    assert (await comm.receive_json_from(timeout=10))["type"] == "start"
    received = [(await comm.receive_json_from(timeout=5))["content"]]
    received.append((await comm.receive_json_from(timeout=5))["content"])

    await comm.send_json_to({"type": "cancel"})

    frames = await collect_reply(comm, timeout=5)
    assert frames[-1] == {
        "type": "cancelled",
        "request_id": "r-cut",
        "conversation_id": None,
    }
    received += [f["content"] for f in frames if f["type"] == "delta"]
    assert await comm.receive_nothing(timeout=0.3)  # nothing after the cancel
    call = demo_server.chat_calls()[-1]
    assert "disconnected_after" in call  # upstream stream closed
    assert not call.get("completed")
    partial = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert partial.status == "partial"
    assert partial.content.startswith("".join(received))
    record = await sync_to_async(usage_record)("r-cut")
    assert record.status == "partial"
    assert 0 < record.completion_tokens < 400

    # the socket stays usable: a new generation can start
    await comm.send_json_to({"type": "chat", "message": "[[words:3]] again"})
    assert (await collect_reply(comm))[-1]["type"] == "done"
    await comm.disconnect()


async def test_disconnect_mid_stream_closes_upstream_and_saves_the_partial(
    chatter, demo_server
):
    comm = await chat_socket(chatter)
    await comm.send_json_to({"type": "chat", "message": SLOW, "request_id": "r-gone"})
    assert (await comm.receive_json_from(timeout=10))["type"] == "start"
    await comm.receive_json_from(timeout=5)

    await comm.disconnect()

    record = await wait_until(lambda: usage_record("r-gone"))
    assert record is not None
    assert record.status == "partial"
    assert "disconnected_after" in demo_server.chat_calls()[-1]
    partial = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert (partial.status, bool(partial.content)) == ("partial", True)


async def test_a_disconnect_the_channel_layer_fails_still_stops_the_stream(
    chatter, demo_server, monkeypatch
):
    """Leaving the socket's groups can fail (the layer's pool busy as hundreds of
    sockets close, Redis gone): the stream still stops, the partial is saved and
    settled, and the socket is no longer counted open."""
    from channels.layers import get_channel_layer

    from flowmatik import realtime

    comm = await chat_socket(chatter)
    opened = realtime._local_connections
    await comm.send_json_to({"type": "chat", "message": SLOW, "request_id": "r-busy"})
    assert (await comm.receive_json_from(timeout=10))["type"] == "start"
    await comm.receive_json_from(timeout=5)

    async def busy(group, channel):
        raise ConnectionError("Too many connections")

    monkeypatch.setattr(get_channel_layer(), "group_discard", busy)
    await comm.disconnect()

    record = await wait_until(lambda: usage_record("r-busy"))
    assert record is not None
    assert record.status == "partial"
    assert "disconnected_after" in demo_server.chat_calls()[-1]
    assert realtime._local_connections == opened - 1


async def test_exhausted_quota_is_an_error_frame_with_its_code(chatter, demo_server):
    await sync_to_async(QuotaOverride.objects.create)(user=chatter, requests_per_day=1)
    comm = await chat_socket(chatter)
    await comm.send_json_to({"type": "chat", "message": "[[words:2]] first"})
    assert (await collect_reply(comm))[-1]["type"] == "done"
    calls = len(demo_server.chat_calls())

    await comm.send_json_to({"type": "chat", "message": "[[words:2]] second"})

    error = await comm.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", "quota_exceeded")
    assert error["message"]
    assert len(demo_server.chat_calls()) == calls  # the provider was not called
    await comm.disconnect()


async def test_one_generation_per_socket(chatter, demo_server):
    comm = await chat_socket(chatter)
    await comm.send_json_to({"type": "chat", "message": SLOW})
    await comm.send_json_to({"type": "chat", "message": "and another"})
    frames = []
    while not any(f["type"] == "error" for f in frames):
        frames.append(await comm.receive_json_from(timeout=5))
    assert frames[-1]["code"] == "generation_in_progress"
    await comm.send_json_to({"type": "cancel"})
    assert (await collect_reply(comm))[-1]["type"] == "cancelled"
    await comm.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "chat"}, "invalid_message"),
        ({"type": "chat", "message": "   "}, "invalid_message"),
        ({"type": "chat", "message": "hi", "conversation_id": "7"}, "invalid_message"),
        ({"type": "dance"}, "invalid_message"),
        ({"type": "chat", "message": "hi", "model": "no-such-model"}, "unknown_model"),
        ({"type": "chat", "message": "hi", "conversation_id": 999999}, "not_found"),
    ],
)
async def test_bad_requests_get_an_error_frame_and_the_socket_stays_open(
    chatter, demo_server, frame, code
):
    comm = await chat_socket(chatter)
    await comm.send_json_to(frame)
    error = await comm.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", code)
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=2) == {"type": "pong"}
    await comm.disconnect()


async def test_binary_and_malformed_frames_get_an_error_not_a_crash(chatter):
    comm = await chat_socket(chatter)
    for frame in ({"bytes_data": b"\x00"}, {"text_data": "{oops"}, {"text_data": "[]"}):
        await comm.send_to(**frame)
        error = await comm.receive_json_from(timeout=2)
        assert (error["type"], error["code"]) == ("error", "invalid_message")
    await comm.disconnect()


async def test_cancel_without_a_generation_is_ignored(chatter):
    comm = await chat_socket(chatter)
    await comm.send_json_to({"type": "cancel"})
    assert await comm.receive_nothing(timeout=0.2)
    await comm.disconnect()


async def test_token_expiring_mid_stream_saves_the_partial_then_closes_4401(
    chatter, demo_server
):
    from datetime import timedelta

    token = jwt_for(chatter, lifetime=timedelta(seconds=4))  # expires in 3-4 s
    comm = communicator("/ws/chat/", token=token)
    assert (await comm.connect())[0] is True
    await comm.send_json_to(
        {
            "type": "chat",
            "message": "[[words:800]] [[delay:0.03]] a very long story",
            "request_id": "r-exp",
        }
    )

    kinds = []
    while (output := await comm.receive_output(timeout=10))["type"] == "websocket.send":
        kinds.append(json.loads(output["text"])["type"])

    assert output == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "token expired",
    }
    assert kinds[0] == "start"
    assert "done" not in kinds  # cut mid-stream
    record = await sync_to_async(usage_record)("r-exp")
    assert record.status == "partial"
    partial = (await sync_to_async(assistant_messages)(chatter))[-1]
    assert partial.status == "partial"
    await comm.disconnect()
