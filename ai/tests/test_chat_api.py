"""/api/ai/chat over real HTTP (uvicorn): JSON and SSE, continuity, errors, usage."""

import json
import time

import httpx
import pytest

from accounts.tests.factories import UserFactory
from ai.models import AIModel, Conversation, Message
from flowmatik.testing.auth import jwt_for
from flowmatik.testing.servers import wait_for
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture
def user(transactional_db):
    return UserFactory(brand_voice="Playful and short.")


@pytest.fixture
def client(live_asgi, user):
    with httpx.Client(
        base_url=live_asgi.http_url,
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=10,
    ) as http:
        yield http


def _sse(lines) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_chat_returns_the_reply_usage_cost_and_a_new_conversation(
    client, demo_server, settle_spy
):
    response = client.post("/api/ai/chat", json={"message": "Plan my week"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "Plan my week" in body["reply"]
    assert body["model"] == "flowmatik-demo"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert body["usage"]["estimated"] is False
    assert float(body["cost"]) > 0
    assert response.headers["X-RateLimit-Remaining-Requests"]
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.title == "Plan my week"
    assert [m.role for m in conversation.messages.all()] == ["user", "assistant"]
    # The brand voice reached the provider as context.
    sent = demo_server.chat_calls()[-1]["body"]["messages"]
    assert any("Playful and short." in m["content"] for m in sent)
    assert [e.status for e in settle_spy] == [CallStatus.SUCCESS]
    assert settle_spy[0].endpoint == "chat"


def test_conversation_continues_with_its_history(client, demo_server):
    first = client.post("/api/ai/chat", json={"message": "My name is Ana"}).json()
    second = client.post(
        "/api/ai/chat",
        json={
            "message": "What is my name?",
            "conversation_id": first["conversation_id"],
        },
    ).json()
    assert second["conversation_id"] == first["conversation_id"]
    sent = demo_server.chat_calls()[-1]["body"]["messages"]
    contents = [m["content"] for m in sent if m["role"] != "system"]
    assert contents == ["My name is Ana", first["reply"], "What is my name?"]
    assert Message.objects.filter(conversation_id=first["conversation_id"]).count() == 4


def test_stream_relays_events_as_they_arrive(client, settle_spy):
    arrivals = []
    with client.stream(
        "POST",
        "/api/ai/chat",
        json={"message": "[[delay:0.15]] [[words:8]] stream please", "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["X-Accel-Buffering"] == "no"
        assert response.headers["X-RateLimit-Limit-Requests"]
        lines = []
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.append((line[7:], time.monotonic()))
            lines.append(line)
    events = _sse(lines)
    kinds = [name for name, _ in events]
    assert kinds[0] == "start"
    assert kinds[-2:] == ["usage", "done"]
    assert kinds.count("delta") == 8
    first_delta = next(t for name, t in arrivals if name == "delta")
    done_at = arrivals[-1][1]
    assert done_at - first_delta >= 0.15 * 6  # not buffered until the end
    done = events[-1][1]
    assert Message.objects.get(pk=done["message_id"]).status == "complete"
    usage = events[-2][1]
    assert usage["completion_tokens"] == 8
    assert usage["estimated"] is False
    assert [e.endpoint for e in settle_spy] == ["chat.stream"]


def test_client_disconnect_closes_upstream_and_records_partial_usage(
    client, demo_server, settle_spy
):
    with client.stream(
        "POST",
        "/api/ai/chat",
        json={"message": "[[delay:0.2]] [[words:40]] long answer", "stream": True},
    ) as response:
        for line in response.iter_lines():
            if line.startswith("event: delta"):
                break  # leave after the first piece of output
    assert wait_for(lambda: demo_server.state.disconnects == 1)
    assert wait_for(lambda: len(settle_spy) == 1)
    event = settle_spy[0]
    assert event.status == CallStatus.PARTIAL
    assert event.estimated is True
    assert 0 < event.completion_tokens < 40
    assert wait_for(lambda: Message.objects.filter(status="partial").exists())
    call = demo_server.chat_calls()[-1]
    assert "completed" not in call
    assert call["disconnected_after"] < 40


def test_unknown_model_is_400(client, settle_spy):
    response = client.post("/api/ai/chat", json={"message": "hi", "model": "gpt-9"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_model"
    assert settle_spy == []


def test_model_above_the_plan_is_403_model_not_allowed(client):
    response = client.post(
        "/api/ai/chat", json={"message": "hi", "model": "flowmatik-demo-pro"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "model_not_allowed"


def test_model_whose_provider_has_no_key_is_503(client):
    response = client.post(
        "/api/ai/chat", json={"message": "hi", "model": "Qwen/Qwen3-8B"}
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"


def test_another_users_conversation_is_404(client):
    other = Conversation.objects.create(user=UserFactory(), title="secret")
    response = client.post(
        "/api/ai/chat", json={"message": "hi", "conversation_id": other.pk}
    )
    assert response.status_code == 404
    assert client.get(f"/api/ai/conversations/{other.pk}").status_code == 404


@pytest.mark.parametrize(
    ("fault", "status", "code", "calls"),
    [
        ("500", 502, "provider_error", 3),
        ("429", 503, "provider_unavailable", 3),
        ("timeout", 504, "provider_timeout", 1),
    ],
)
def test_provider_failures_map_to_gateway_errors_and_record_an_error_event(
    client, demo_server, settle_spy, settings, fault, status, code, calls
):
    settings.AI_REQUEST_TIMEOUT_SECONDS = 0.5
    for stream in (False, True):
        demo_server.state.log.clear()
        response = client.post(
            "/api/ai/chat",
            json={"message": f"[[fault:{fault}]] hi {stream}", "stream": stream},
        )
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert "raw provider body" not in response.text
        assert response.headers["X-RateLimit-Limit-Requests"]
        assert len(demo_server.chat_calls()) == calls
    assert [e.status for e in settle_spy] == [CallStatus.ERROR, CallStatus.ERROR]
    assert all(e.error_code == code for e in settle_spy)


def test_a_stream_broken_after_output_ends_with_an_error_event_and_partial_usage(
    client, demo_server, settle_spy
):
    response = client.post(
        "/api/ai/chat", json={"message": "[[fault:broken]] go", "stream": True}
    )
    events = _sse(response.text.splitlines())
    kinds = [name for name, _ in events]
    assert kinds.count("delta") == 3
    assert kinds[-1] == "error"
    assert events[-1][1]["code"] == "provider_error"
    assert len(demo_server.chat_calls()) == 1  # not retried after the first byte
    assert settle_spy[0].status == CallStatus.PARTIAL


def test_fallback_model_answers_when_the_primary_fails_before_output(
    client, demo_server
):
    primary = AIModel.objects.create(
        model_id="demo-primary",
        provider="demo",
        display_name="Primary",
        fallback=AIModel.objects.get(model_id="flowmatik-demo"),
    )
    from ai.selectors import catalogue_invalidate

    catalogue_invalidate()
    response = client.post(
        "/api/ai/chat",
        json={"message": "[[fault:500x3]] hi", "model": primary.model_id},
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "flowmatik-demo"
    assert [c["model"] for c in demo_server.chat_calls()] == [
        "demo-primary",
        "demo-primary",
        "demo-primary",
        "flowmatik-demo",
    ]


def test_chat_requires_credentials(live_asgi):
    response = httpx.post(f"{live_asgi}/api/ai/chat", json={"message": "hi"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_invalid_input_is_400_with_field_errors(client):
    response = client.post("/api/ai/chat", json={"message": "", "temperature": 9})
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]
    assert "message" in fields
    assert "temperature" in fields


def test_slow_streams_get_keepalive_pings(client, monkeypatch):
    from flowmatik import sse

    monkeypatch.setattr(sse, "SSE_KEEPALIVE_SECONDS", 0.05)
    response = client.post(
        "/api/ai/chat",
        json={"message": "[[delay:0.3]] [[words:3]] slow", "stream": True},
    )
    assert ": ping" in response.text
    kinds = [name for name, _ in _sse(response.text.splitlines())]
    assert kinds == ["start", "delta", "delta", "delta", "usage", "done"]
