"""Client input that must be refused with a 4xx over real HTTP, never a 500 or a
provider call: typed tool calls and tools, body size, nesting and media type,
bounded max_tokens, limits read from settings per request."""

import logging
import secrets

import httpx
import openai
import pytest

from accounts.credentials import API_KEY_PREFIX, api_key_hash
from accounts.models import ApiKey
from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from flowmatik.testing.auth import jwt_for

pytestmark = pytest.mark.usefixtures("catalogue_tx")

HUGE = 99999999999999999999999


@pytest.fixture
def v1(live_asgi, transactional_db):
    """An httpx client of /v1 with a Starter user's API key."""
    raw = f"{API_KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
    owner = UserFactory()
    subscription_row(user=owner, plan="starter")
    ApiKey.objects.create(
        user=owner, name="t", prefix=raw[4:12], hashed_key=api_key_hash(raw)
    )
    with httpx.Client(
        base_url=f"{live_asgi}/v1",
        headers={"Authorization": f"Bearer {raw}"},
        timeout=10,
    ) as http:
        yield http


@pytest.fixture
def rest(live_asgi, transactional_db):
    user = UserFactory()
    with httpx.Client(
        base_url=live_asgi.http_url,
        headers={"Authorization": f"Bearer {jwt_for(user)}"},
        timeout=10,
    ) as http:
        yield http


def _user(text: str = "hi") -> dict:
    return {"role": "user", "content": text}


def _v1_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return error


def _rest_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    return error


# --- 1. tool_calls items are typed -----------------------------------------------


@pytest.mark.parametrize(
    "tool_calls",
    [
        [{"function": "x"}],
        [{"id": "c1", "type": "function", "function": {"name": "f"}}],
        [{"id": "c1", "type": "other", "function": {"name": "f", "arguments": ""}}],
        ["x"],
        {"id": "c1"},
    ],
)
def test_malformed_tool_calls_are_400_not_500(v1, demo_server, tool_calls):
    response = v1.post(
        "/chat/completions",
        json={
            "messages": [
                {"role": "assistant", "content": "a", "tool_calls": tool_calls},
                _user(),
            ]
        },
    )
    error = _v1_error(response, 400, "invalid_input")
    assert error["param"] == "messages"
    assert demo_server.chat_calls() == []


def test_well_formed_tool_calls_reach_the_provider(v1, demo_server):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": ' {"q": "x"} '},
    }
    response = v1.post(
        "/chat/completions",
        json={
            "messages": [
                _user("find x"),
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "found"},
                _user("thanks"),
            ]
        },
    )
    assert response.status_code == 200, response.text
    sent = demo_server.chat_calls()[-1]["body"]["messages"]
    assert [m for m in sent if m.get("tool_calls")][0]["tool_calls"] == [call]


# --- 2. tools and tool_choice are typed ------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"x": 1}]},
        {"tools": [{"type": "function", "function": {}}]},
        {"tools": [{"type": "function", "function": {"name": 5.5}}]},
        {"tools": [{"type": "function", "function": {"name": "a b"}}]},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": 1}}]},
        {"tools": {"type": "function"}},
        {"tool_choice": "sometimes"},
        {"tool_choice": 3},
        {"tool_choice": {"type": "function"}},
        {"tool_choice": {"type": "function", "function": {"name": "missing"}}},
        {"tool_choice": "required"},
    ],
)
def test_malformed_tools_are_400_before_any_provider_call(
    v1, demo_server, settle_spy, extra
):
    response = v1.post("/chat/completions", json={"messages": [_user()], **extra})
    error = _v1_error(response, 400, "invalid_input")
    assert error["param"] in {"tools", "tool_choice"}
    assert demo_server.chat_calls() == []
    assert settle_spy == []  # not metered, not a provider error


def test_valid_tools_and_tool_choice_are_sent_upstream(v1, demo_server):
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {}}},
        },
    }
    choice = {"type": "function", "function": {"name": "get_weather"}}
    response = v1.post(
        "/chat/completions",
        json={"messages": [_user()], "tools": [tool], "tool_choice": choice},
    )
    assert response.status_code == 200, response.text
    body = demo_server.chat_calls()[-1]["body"]
    assert body["tools"] == [tool]
    assert body["tool_choice"] == choice


# --- 3. body size, nesting and media type ----------------------------------------


@pytest.mark.parametrize("path", ["/api/ai/chat", "/v1/chat/completions"])
def test_a_body_over_the_upload_limit_is_413(rest, v1, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    client = rest if path.startswith("/api") else v1
    url = path if path.startswith("/api") else path.removeprefix("/v1")
    body = {"message": "x" * 5_000, "messages": [_user("x" * 5_000)]}
    response = client.post(url, json=body)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/api/ai/chat", "/v1/chat/completions"])
def test_deeply_nested_json_is_400_malformed_request(rest, v1, path):
    client = rest if path.startswith("/api") else v1
    url = path if path.startswith("/api") else path.removeprefix("/v1")
    response = client.post(
        url,
        content="[" * 100_000 + "]" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "malformed_request"


@pytest.mark.parametrize("path", ["/api/ai/chat", "/v1/chat/completions"])
@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", '{"message": "hi", "messages": [{"role": "user"}]}'),
        ("application/x-www-form-urlencoded", "message=hi"),
        (None, '{"message": "hi"}'),
    ],
)
def test_non_json_bodies_are_415(rest, v1, demo_server, path, content_type, content):
    client = rest if path.startswith("/api") else v1
    url = path if path.startswith("/api") else path.removeprefix("/v1")
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(url, content=content, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert demo_server.chat_calls() == []


def test_json_with_a_charset_is_accepted(rest):
    response = rest.post(
        "/api/ai/chat",
        content='{"message": "hi"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


# --- 4. max_tokens is bounded by one setting ------------------------------------


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_v1_max_tokens_has_an_upper_bound(v1, demo_server, settings, field):
    response = v1.post("/chat/completions", json={"messages": [_user()], field: HUGE})
    assert _v1_error(response, 400, "invalid_input")["param"] == field
    settings.AI_MAX_OUTPUT_TOKENS = 50
    response = v1.post("/chat/completions", json={"messages": [_user()], field: 51})
    assert _v1_error(response, 400, "invalid_input")["param"] == field
    assert demo_server.chat_calls() == []


def test_rest_max_tokens_follows_the_same_setting(rest, settings):
    settings.AI_MAX_OUTPUT_TOKENS = 50
    response = rest.post("/api/ai/chat", json={"message": "hi", "max_tokens": 51})
    error = _rest_error(response, 400, "invalid_input")
    assert "max_tokens" in error["details"]["fields"]
    ok = rest.post("/api/ai/chat", json={"message": "hi", "max_tokens": 50})
    assert ok.status_code == 200, ok.text


# --- 6. limits are settings, read per request ----------------------------------


def test_message_length_limit_is_read_from_settings_per_request(rest, settings):
    settings.AI_MAX_MESSAGE_CHARS = 10
    response = rest.post("/api/ai/chat", json={"message": "x" * 11})
    error = _rest_error(response, 400, "invalid_input")
    assert "message" in error["details"]["fields"]
    assert rest.post("/api/ai/chat", json={"message": "x" * 10}).status_code == 200


def test_message_count_limit_is_read_from_settings_per_request(v1, settings):
    settings.AI_MAX_MESSAGES = 2
    response = v1.post("/chat/completions", json={"messages": [_user()] * 3})
    assert _v1_error(response, 400, "invalid_input")["param"] == "messages"
    ok = v1.post("/chat/completions", json={"messages": [_user()] * 2})
    assert ok.status_code == 200, ok.text


def test_v1_refuses_a_message_over_the_character_limit(v1, demo_server, settings):
    settings.AI_MAX_MESSAGE_CHARS = 10
    parts = [{"type": "text", "text": "x" * 6}, {"type": "text", "text": "y" * 5}]
    for content in ("x" * 11, parts):
        response = v1.post(
            "/chat/completions",
            json={"messages": [_user(), {"role": "user", "content": content}]},
        )
        assert _v1_error(response, 400, "invalid_input")["param"] == "messages"
    assert demo_server.chat_calls() == []
    ok = v1.post("/chat/completions", json={"messages": [_user("x" * 10)]})
    assert ok.status_code == 200, ok.text


def test_v1_refuses_an_empty_message_list(v1, demo_server):
    response = v1.post("/chat/completions", json={"messages": []})
    assert _v1_error(response, 400, "invalid_input")["param"] == "messages"
    assert demo_server.chat_calls() == []


# --- 6b. text must be valid Unicode on every transport ---------------------------

# JSON can carry a lone surrogate (`\ud800`); it cannot be sent on as UTF-8.
SURROGATE = "x\\ud800y"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/ai/chat", f'{{"message": "{SURROGATE}"}}'),
        (
            "/v1/chat/completions",
            f'{{"messages": [{{"role": "user", "content": "{SURROGATE}"}}]}}',
        ),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": '
            f'[{{"type": "text", "text": "{SURROGATE}"}}]}}]}}',
        ),
        (
            "/v1/chat/completions",
            '{"messages": [{"role": "user", "content": "hi"}], "tools": '
            '[{"type": "function", "function": '
            f'{{"name": "f", "description": "{SURROGATE}"}}}}]}}',
        ),
    ],
)
def test_a_lone_surrogate_is_400_before_any_provider_call(
    rest, v1, demo_server, settle_spy, path, body
):
    client = rest if path.startswith("/api") else v1
    url = path if path.startswith("/api") else path.removeprefix("/v1")
    response = client.post(
        url, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert demo_server.chat_calls() == []
    assert settle_spy == []


# --- 7. provider failures are logged without the upstream body -------------------


def test_provider_failures_log_status_and_code_but_not_the_body(live_asgi, v1, caplog):
    caplog.set_level(logging.WARNING, logger="flowmatik.ai")
    response = v1.post(
        "/chat/completions",
        json={"messages": [_user("[[fault:500]] my private prompt")]},
    )
    assert response.status_code == 502
    failures = [r for r in caplog.records if r.msg == "AI provider call failed"]
    assert failures
    for record in failures:
        assert record.upstreamStatus == 500
        assert record.upstreamCode == "demo_500"
        assert not hasattr(record, "upstreamBody")
        dumped = repr(record.__dict__)
        assert "raw provider body" not in dumped
        assert "private prompt" not in dumped


def test_sdk_sees_a_typed_400_for_a_bad_tool(live_asgi, v1):
    key = v1.headers["Authorization"].removeprefix("Bearer ")
    sdk = openai.OpenAI(base_url=f"{live_asgi}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(
            model="flowmatik-demo", messages=[_user()], tools=[{"x": 1}]
        )
    assert err.value.code == "invalid_input"
