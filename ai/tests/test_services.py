"""The chat path as the WebSocket consumer uses it: cancel and close mid-stream."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts.identity import Identity
from accounts.tests.factories import UserFactory
from ai.models import Message
from ai.services import chat_complete, chat_prepare, chat_stream
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture
def identity(transactional_db) -> Identity:
    user = UserFactory()
    return Identity(user.pk, user.email, False)


async def _prepare(identity, message, **kwargs):
    return await chat_prepare(
        identity=identity,
        message=message,
        conversation_id=kwargs.get("conversation_id"),
        model=kwargs.get("model"),
        agent=None,
        temperature=None,
        max_tokens=kwargs.get("max_tokens"),
        request_id="req_test",
        endpoint="ws.chat",
        ip="127.0.0.1",
    )


async def _eventually(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        if await sync_to_async(predicate)():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_cancelling_the_consumer_task_closes_upstream_and_settles_partial(
    identity, demo_server, settle_spy
):
    prepared = await _prepare(identity, "[[delay:0.2]] [[words:40]] go on")
    got_delta = asyncio.Event()
    events = []

    async def consume():
        async for event in chat_stream(prepared):
            events.append(event)
            if event.type == "delta":
                got_delta.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_delta.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _eventually(lambda: demo_server.state.disconnects == 1)
    assert len(settle_spy) == 1
    assert settle_spy[0].status == CallStatus.PARTIAL
    assert settle_spy[0].endpoint == "ws.chat"
    message = await Message.objects.aget(role="assistant")
    assert message.status == "partial"
    assert message.content == "".join(e.data["content"] for e in events[1:])


async def test_closing_the_generator_settles_exactly_once(
    identity, demo_server, settle_spy
):
    prepared = await _prepare(identity, "[[delay:0.1]] [[words:30]] close me")
    stream = chat_stream(prepared)
    async for event in stream:
        if event.type == "delta":
            break
    await stream.aclose()
    await stream.aclose()
    assert await _eventually(lambda: demo_server.state.disconnects == 1)
    assert [e.status for e in settle_spy] == [CallStatus.PARTIAL]


async def test_complete_returns_the_answer_and_settles_success(identity, settle_spy):
    prepared = await _prepare(identity, "hello", max_tokens=12)
    assert prepared.max_tokens == 12
    result = await chat_complete(prepared)
    assert result.usage.completion_tokens == 12
    assert result.finish_reason == "length"
    assert result.conversation_id is not None
    assert [e.status for e in settle_spy] == [CallStatus.SUCCESS]
    assert settle_spy[0].cost == result.usage.cost


async def test_the_gateway_itself_queries_no_database_when_caches_are_warm(
    identity, monkeypatch
):
    from django.db.backends.utils import CursorWrapper

    from usage import services as usage_services

    state = {"in_usage": False, "queries": []}
    real_execute = CursorWrapper._execute
    real_admit = usage_services.usage_admit

    def counting(self, sql, *args, **kwargs):
        if not state["in_usage"]:
            state["queries"].append(sql)
        return real_execute(self, sql, *args, **kwargs)

    async def admit(**kwargs):  # the usage app's own queries are its business
        state["in_usage"] = True
        try:
            return await real_admit(**kwargs)
        finally:
            state["in_usage"] = False

    monkeypatch.setattr(CursorWrapper, "_execute", counting)
    monkeypatch.setattr(usage_services, "usage_admit", admit)
    await _prepare(identity, "warm the caches")
    state["queries"].clear()
    prepared = await _prepare(identity, "hot path")
    assert state["queries"] == []
    assert prepared.model.model_id == "flowmatik-demo"
