"""The AI provider's faults, as each interface's client sees them (issue 19).

One matrix, run against the whole platform in uvicorn (`live_asgi`) and the demo
model over HTTP, through the four ways in: REST JSON and SSE (`/api/ai/chat`),
OpenAI-compatible `/v1/chat/completions` (complete and streamed) and the
`/ws/chat/` WebSocket. Faults are the demo model's directives (ai/demo/app.py):
429 with a short and a long `Retry-After`, 500/503, no answer at all (`timeout`),
a stream whose headers arrive and then nothing (`hang`), a stream cut after a few
chunks (`broken`), one that goes silent after a few chunks (`hang_mid`), and an
empty stream. For each: the error code the client gets (or the answer after a
retry / from the fallback model), how many times the provider was called, the
usage outcome settled once, no token left reserved in the quota, and the partial
answer saved when output had begun. Then the circuit breaker: open after
AI_CIRCUIT_FAILURE_THRESHOLD faults on every interface, closed again by the first
call after AI_CIRCUIT_RESET_SECONDS.
"""

import json
import time
from dataclasses import dataclass, field

import httpx
import pytest
from websockets.sync.client import connect

from accounts.tests.factories import UserFactory
from ai.models import AIModel, Message
from ai.providers.circuit import circuit_status
from ai.selectors import catalogue_invalidate
from billing.tests.factories import subscription_row
from flowmatik.testing.auth import api_key_for, jwt_for
from flowmatik.testing.servers import wait_for
from usage.selectors import quota_state_for_user
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")

STREAMED = ("sse", "v1_stream", "ws")
COMPLETE = ("rest", "v1")
INTERFACES = COMPLETE + STREAMED
ENDPOINTS = {
    "rest": "chat",
    "sse": "chat.stream",
    "v1": "openai.chat",
    "v1_stream": "openai.chat.stream",
    "ws": "ws.chat",
}
TIMEOUT = 0.5  # AI_REQUEST_TIMEOUT_SECONDS in these tests


@dataclass
class Outcome:
    """What one client saw: `code` is "ok" or the error code; `status` the HTTP
    status (None on the WebSocket); `text` the answer (or the part that came)."""

    code: str
    status: int | None = None
    text: str = ""
    headers: dict = field(default_factory=dict)
    conversation_id: int | None = None
    seconds: float = 0.0


@dataclass
class Caller:
    base: str
    ws_base: str
    token: str
    key: str
    user_id: int

    def __call__(self, interface: str, message: str, model: str = "") -> Outcome:
        started = time.monotonic()
        outcome = getattr(self, f"_{interface}")(message, model)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _post(self, path: str, body: dict, bearer: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}{path}",
            json=body,
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=15,
        )

    def _v1_body(self, message: str, model: str, stream: bool) -> dict:
        return {
            "model": model or "flowmatik-demo",
            "messages": [{"role": "user", "content": message}],
            "stream": stream,
        }

    def _rest(self, message: str, model: str) -> Outcome:
        body = {"message": message, **({"model": model} if model else {})}
        response = self._post("/api/ai/chat", body, self.token)
        data = response.json()
        if response.status_code != 200:
            return Outcome(
                data["error"]["code"], response.status_code, "", response.headers
            )
        return Outcome(
            "ok", 200, data["reply"], response.headers, data["conversation_id"]
        )

    def _sse(self, message: str, model: str) -> Outcome:
        body = {
            "message": message,
            "stream": True,
            **({"model": model} if model else {}),
        }
        response = self._post("/api/ai/chat", body, self.token)
        if response.status_code != 200:
            code = response.json()["error"]["code"]
            return Outcome(code, response.status_code, "", response.headers)
        events, name = [], None
        for line in response.text.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
        text = "".join(data["content"] for kind, data in events if kind == "delta")
        last_kind, last = events[-1]
        code = "ok" if last_kind == "done" else last["code"]
        return Outcome(code, 200, text, response.headers, last.get("conversation_id"))

    def _v1(self, message: str, model: str) -> Outcome:
        response = self._post(
            "/v1/chat/completions", self._v1_body(message, model, False), self.key
        )
        data = response.json()
        if response.status_code != 200:
            return Outcome(
                data["error"]["code"], response.status_code, "", response.headers
            )
        text = data["choices"][0]["message"]["content"] or ""
        return Outcome("ok", 200, text, response.headers)

    def _v1_stream(self, message: str, model: str) -> Outcome:
        response = self._post(
            "/v1/chat/completions", self._v1_body(message, model, True), self.key
        )
        if response.status_code != 200:
            code = response.json()["error"]["code"]
            return Outcome(code, response.status_code, "", response.headers)
        code, text = "", ""
        for line in response.text.splitlines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "error" in chunk:
                code = chunk["error"]["code"]
                continue
            for choice in chunk["choices"]:
                text += choice["delta"].get("content") or ""
                if choice.get("finish_reason"):
                    code = code or "ok"
        assert response.text.rstrip().endswith("data: [DONE]")
        return Outcome(code, 200, text, response.headers)

    def _ws(self, message: str, model: str) -> Outcome:
        frame = {
            "type": "chat",
            "message": message,
            **({"model": model} if model else {}),
        }
        with connect(
            f"{self.ws_base}/ws/chat/",
            origin="http://127.0.0.1",
            subprotocols=["bearer", self.token],
            open_timeout=5,
        ) as socket:
            socket.send(json.dumps(frame))
            text = ""
            while True:
                event = json.loads(socket.recv(timeout=10))
                if event["type"] == "delta":
                    text += event["content"]
                elif event["type"] in ("done", "error"):
                    break
        code = "ok" if event["type"] == "done" else event["code"]
        return Outcome(code, None, text, {}, event.get("conversation_id"))


@pytest.fixture
def user(transactional_db):
    owner = UserFactory()
    subscription_row(user=owner, plan="starter")  # /v1 needs a plan with API access
    return owner


@pytest.fixture
def call(live_asgi, user, settings) -> Caller:
    settings.AI_REQUEST_TIMEOUT_SECONDS = TIMEOUT
    settings.AI_RETRY_MAX_WAIT_SECONDS = 2.0
    return Caller(
        live_asgi.http_url, live_asgi.ws_url, jwt_for(user), api_key_for(user), user.pk
    )


def _nothing_reserved(user_id: int) -> bool:
    return quota_state_for_user(user_id=user_id).tokens_reserved == 0


def _settled(spy: list, count: int = 1) -> list:
    assert wait_for(lambda: len(spy) >= count), spy
    time.sleep(0.05)  # a second settlement would have arrived by now
    return spy


# --- faults before any output: an error (or the answer after a retry), nothing charged


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize(
    ("fault", "status", "code", "calls"),
    [
        ("500", 502, "provider_error", 3),  # retried AI_MAX_RETRIES times
        ("503", 502, "provider_error", 3),
        ("timeout", 504, "provider_timeout", 1),  # no headers: never retried
        ("hang", 504, "provider_timeout", 1),  # headers, then not one byte
    ],
)
def test_fault_before_output_is_a_gateway_error_and_returns_the_reservation(
    call, demo_server, settle_spy, interface, fault, status, code, calls
):
    outcome = call(interface, f"[[fault:{fault}]] {interface} fails")
    assert outcome.code == code
    assert outcome.status in (status, None)  # None: the WebSocket's error frame
    assert len(demo_server.chat_calls()) == calls
    if fault in ("timeout", "hang"):
        assert outcome.seconds < TIMEOUT + 2  # the read timeout, not the 30 s hang
    events = _settled(settle_spy)
    assert [(e.status, e.error_code, e.endpoint) for e in events] == [
        (CallStatus.ERROR, code, ENDPOINTS[interface])
    ]
    state = quota_state_for_user(user_id=call.user_id)
    assert (state.tokens_reserved, state.tokens_used, state.requests_used) == (0, 0, 0)
    assert not Message.objects.filter(role="assistant").exists()


@pytest.mark.parametrize("interface", STREAMED)
def test_empty_stream_is_retried_then_a_provider_error(
    call, demo_server, settle_spy, interface
):
    outcome = call(interface, f"[[fault:empty]] {interface} says nothing")
    assert (outcome.code, outcome.status in (502, None)) == ("provider_error", True)
    assert len(demo_server.chat_calls()) == 3
    assert [e.status for e in _settled(settle_spy)] == [CallStatus.ERROR]
    assert _nothing_reserved(call.user_id)


@pytest.mark.parametrize("interface", INTERFACES)
def test_429_with_a_short_retry_after_is_honoured_then_answered(
    call, demo_server, settle_spy, interface
):
    outcome = call(interface, f"[[fault:429x1]] [[retry_after:0.4]] {interface}")
    assert outcome.code == "ok"
    assert outcome.text
    assert len(demo_server.chat_calls()) == 2
    assert outcome.seconds >= 0.4  # waited as long as the provider asked
    assert [e.status for e in _settled(settle_spy)] == [CallStatus.SUCCESS]
    assert _nothing_reserved(call.user_id)


@pytest.mark.parametrize("interface", INTERFACES)
def test_429_asking_for_longer_than_we_wait_is_passed_on_at_once(
    call, demo_server, settle_spy, interface
):
    outcome = call(interface, f"[[fault:429]] [[retry_after:30]] {interface}")
    assert outcome.code == "provider_unavailable"
    assert len(demo_server.chat_calls()) == 1  # not retried: it asked for 30 s
    assert outcome.seconds < 2
    if interface != "ws":
        assert outcome.status == 503
        assert outcome.headers["Retry-After"] == "30"
    assert [e.status for e in _settled(settle_spy)] == [CallStatus.ERROR]
    state = quota_state_for_user(user_id=call.user_id)
    assert (state.tokens_reserved, state.requests_used) == (0, 0)
    # A rate-limiting provider is not a broken one: the circuit stays closed.
    assert circuit_status("demo")["consecutive_failures"] == 0


@pytest.mark.parametrize("interface", INTERFACES)
def test_fallback_model_answers_when_the_primary_fails_before_output(
    call, demo_server, settle_spy, interface
):
    AIModel.objects.create(
        model_id="demo-primary",
        provider="demo",
        display_name="Primary",
        fallback=AIModel.objects.get(model_id="flowmatik-demo"),
    )
    catalogue_invalidate()
    outcome = call(interface, f"[[fault:503x3]] {interface} falls back", "demo-primary")
    assert outcome.code == "ok"
    assert outcome.text
    assert [c["model"] for c in demo_server.chat_calls()] == [
        "demo-primary",
        "demo-primary",
        "demo-primary",
        "flowmatik-demo",
    ]
    events = _settled(settle_spy)
    assert [(e.status, e.model) for e in events] == [
        (CallStatus.SUCCESS, "flowmatik-demo")
    ]
    assert _nothing_reserved(call.user_id)


# --- faults after output began: the part that came is kept and charged


@pytest.mark.parametrize("interface", STREAMED)
@pytest.mark.parametrize(
    ("fault", "code"),
    [("broken", "provider_error"), ("hang_mid", "provider_timeout")],
)
def test_stream_cut_after_output_keeps_and_charges_the_partial_answer(
    call, demo_server, settle_spy, interface, fault, code
):
    outcome = call(interface, f"[[fault:{fault}]] [[words:20]] {interface} is cut")
    assert outcome.code == code
    assert outcome.status in (200, None)  # the stream had started
    assert outcome.text  # the first chunks reached the client
    assert len(demo_server.chat_calls()) == 1  # never retried after the first byte
    assert outcome.seconds < TIMEOUT + 2
    events = _settled(settle_spy)
    assert [(e.status, e.error_code) for e in events] == [(CallStatus.PARTIAL, code)]
    assert 0 < events[0].completion_tokens < 20
    state = quota_state_for_user(user_id=call.user_id)
    assert state.tokens_reserved == 0
    assert state.tokens_used == events[0].total_tokens
    if interface != "v1_stream":  # /v1 keeps no conversation
        saved = Message.objects.get(role="assistant")
        assert saved.status == "partial"
        assert saved.content == outcome.text
        # The error tells the client where its partial answer was saved.
        assert saved.conversation_id == outcome.conversation_id


# --- the circuit breaker


def test_circuit_opens_on_every_interface_and_closes_after_its_cool_down(
    call, demo_server, settle_spy, settings
):
    settings.AI_MAX_RETRIES = 0
    settings.AI_CIRCUIT_FAILURE_THRESHOLD = 2
    settings.AI_CIRCUIT_RESET_SECONDS = 4
    assert call("rest", "[[fault:500]] one").code == "provider_error"
    assert circuit_status("demo")["circuit"] == "closed"  # below the threshold
    assert call("sse", "[[fault:500]] two").code == "provider_error"
    opened = time.monotonic()
    assert circuit_status("demo")["circuit"] == "open"
    called = len(demo_server.chat_calls())
    for interface in INTERFACES:
        outcome = call(interface, f"healthy {interface}")
        assert outcome.code == "provider_unavailable", interface
        assert outcome.status in (503, None)
        if outcome.status:
            assert int(outcome.headers["Retry-After"]) >= 1
    assert time.monotonic() - opened < 4, "too slow to see the circuit open"
    assert len(demo_server.chat_calls()) == called  # failed fast, provider untouched
    assert _nothing_reserved(call.user_id)
    time.sleep(max(0.0, opened + 4.1 - time.monotonic()))  # AI_CIRCUIT_RESET_SECONDS
    assert circuit_status("demo")["circuit"] == "half_open"
    assert call("ws", "the probe").code == "ok"
    assert circuit_status("demo")["circuit"] == "closed"
    for interface in INTERFACES:
        assert call(interface, f"back {interface}").code == "ok", interface
