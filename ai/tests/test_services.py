"""The chat path as the WebSocket consumer uses it: cancel and close mid-stream."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts.identity import Identity
from accounts.tests.factories import UserFactory
from ai.errors import ProviderError
from ai.models import Conversation, Message
from ai.services import (
    chat_complete,
    chat_complete_sync,
    chat_prepare,
    chat_run,
    chat_stream,
    plan_for_user,
)
from ai.types import ChatDelta, ChatFailure, ChatRequest, ChatStart
from flowmatik.errors import ApplicationError, InvalidInput
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture
def identity(transactional_db) -> Identity:
    user = UserFactory()
    return Identity(user.pk, user.email, False)


async def _prepare(identity, message, **kwargs):
    return await chat_prepare(
        ChatRequest(
            user_id=identity.user_id,
            request_id="req_test",
            endpoint="ws.chat",
            message=message,
            persist=True,
            ip="127.0.0.1",
            **kwargs,
        )
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
    assert message.content == "".join(e.content for e in events[1:])


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


# --- the engine's typed request and its callers --------------------------------------


def _request(identity, **fields) -> ChatRequest:
    return ChatRequest(
        user_id=identity.user_id, request_id="req_engine", endpoint="test", **fields
    )


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"message": "hi", "messages": [{"role": "user", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}], "conversation_id": 1},
        {"messages": [{"role": "user", "content": "hi"}], "persist": True},
        {"message": "x\ud800y"},
        {"message": "hi", "temperature": 3},
        {"message": "hi", "max_tokens": 0},
    ],
)
async def test_the_engine_refuses_a_request_no_transport_checked(
    identity, demo_server, settle_spy, fields
):
    with pytest.raises(InvalidInput):
        await chat_run(_request(identity, **fields))
    assert demo_server.chat_calls() == []
    assert settle_spy == []


def test_a_sync_caller_gets_a_metered_completion_that_is_not_stored(
    identity, demo_server, settle_spy
):
    result = chat_complete_sync(
        _request(identity, messages=[{"role": "user", "content": "write a slogan"}])
    )
    assert "write a slogan" in result.content
    assert result.conversation_id is None
    assert result.usage.total_tokens > 0
    assert [(e.endpoint, e.status) for e in settle_spy] == [
        ("test", CallStatus.SUCCESS)
    ]
    assert settle_spy[0].completion_tokens == result.usage.completion_tokens
    assert not Conversation.objects.exists()


async def test_a_failure_before_output_is_raised_as_the_error_itself(
    identity, demo_server, settle_spy, settings
):
    settings.AI_MAX_RETRIES = 0
    for stream in (True, False):
        with pytest.raises(ProviderError) as raised:
            await chat_run(
                _request(identity, message="[[fault:500]] hi", stream=stream)
            )
        assert raised.value.quota is not None  # for the X-RateLimit headers
    assert [e.status for e in settle_spy] == [CallStatus.ERROR, CallStatus.ERROR]


async def test_a_failure_mid_stream_is_an_event_carrying_the_error(
    identity, demo_server, settle_spy, settings
):
    settings.AI_MAX_RETRIES = 0
    stream = await chat_run(
        _request(identity, message="[[fault:broken]] [[words:40]] hi", stream=True)
    )
    events = [event async for event in stream.events]
    assert isinstance(events[0], ChatStart)
    assert any(isinstance(e, ChatDelta) for e in events)
    failure = events[-1]
    assert isinstance(failure, ChatFailure)
    assert isinstance(failure.error, ApplicationError)
    assert failure.as_dict()["code"] == failure.error.code
    assert [e.status for e in settle_spy] == [CallStatus.PARTIAL]


async def test_the_known_plan_is_not_looked_up_again(
    identity, demo_server, monkeypatch
):
    from billing import selectors as billing_selectors
    from usage import daily_limits

    plan = await plan_for_user(identity.user_id)
    looked_up = []

    def counting(**kwargs):
        looked_up.append(kwargs)
        return plan

    monkeypatch.setattr(billing_selectors, "plan_info_for_user_id", counting)
    monkeypatch.setattr(daily_limits, "plan_info_for_user_id", counting)
    result = await chat_run(_request(identity, message="hi", plan=plan))
    assert result.content
    assert looked_up == []
    await chat_run(_request(identity, message="hi"))
    assert len(looked_up) == 1  # admission reuses the engine's


async def test_a_call_no_longer_wanted_is_settled_as_an_error_and_raises(
    identity, settle_spy
):
    """`still_wanted` says False once the answer is in: uncharged, uncounted."""
    from ai.errors import JobCanceled
    from usage.selectors import quota_state_for_user

    asked = []

    async def still_wanted() -> bool:
        asked.append(True)
        return False

    prepared = await _prepare(
        identity, "[[words:20]] too late", still_wanted=still_wanted
    )
    with pytest.raises(JobCanceled):
        await chat_complete(prepared)
    assert asked == [True]
    [event] = settle_spy
    assert event.status == CallStatus.ERROR
    assert event.error_code == "job_canceled"
    assert (event.prompt_tokens, event.completion_tokens, event.cost) == (0, 0, 0)
    quota = await sync_to_async(quota_state_for_user)(user_id=identity.user_id)
    assert (quota.requests_used, quota.tokens_used) == (0, 0)


async def test_a_call_still_wanted_is_charged_as_usual(identity, settle_spy):
    async def still_wanted() -> bool:
        return True

    result = await chat_run(
        ChatRequest(
            user_id=identity.user_id,
            request_id="req_wanted",
            endpoint="studio.email",
            messages=[{"role": "user", "content": "[[words:5]] on time"}],
            still_wanted=still_wanted,
        )
    )
    assert result.usage.completion_tokens == 5
    assert [e.status for e in settle_spy] == [CallStatus.SUCCESS]
    assert settle_spy[0].cost == result.usage.cost > 0


async def test_a_call_cancelled_while_it_settles_is_settled_once_and_stays_cancelled(
    identity, monkeypatch
):
    """The cancel lands while the answer is being settled: the settlement finishes
    (once, a success: the answer was complete) and the caller still sees the
    cancellation, so a multi-step caller (reasoning, agents) starts nothing more.
    The old code swallowed that cancel and returned the answer as if nothing had
    happened."""
    from usage import services as usage_services

    settling = asyncio.Event()
    settled = []
    real = usage_services.usage_settle

    async def slow_settle(*, reservation, event):
        settling.set()
        await asyncio.sleep(0.3)
        settled.append(event)
        return await real(reservation=reservation, event=event)

    monkeypatch.setattr(usage_services, "usage_settle", slow_settle)
    prepared = await _prepare(identity, "[[words:8]] settle me")
    task = asyncio.create_task(chat_complete(prepared))
    await asyncio.wait_for(settling.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [event.status for event in settled] == [CallStatus.SUCCESS]
    await asyncio.sleep(0.4)  # nothing settles it a second time
    assert len(settled) == 1
