"""The official `openai` SDK as a client of our /v1 API, with a Flowmatik API key."""

import secrets

import openai
import pytest

from accounts.credentials import API_KEY_PREFIX, api_key_hash
from accounts.models import ApiKey
from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row
from usage.types import CallStatus

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture
def api_key(transactional_db) -> tuple[str, ApiKey]:
    """A live key of a Starter user (API access is a plan feature)."""
    raw = f"{API_KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
    owner = UserFactory()
    subscription_row(user=owner, plan="starter")
    row = ApiKey.objects.create(
        user=owner,
        name="sdk",
        prefix=raw[4:12],
        hashed_key=api_key_hash(raw),
    )
    return raw, row


@pytest.fixture
def sdk(live_asgi, api_key) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{live_asgi}/v1", api_key=api_key[0], max_retries=0, timeout=10
    )


def test_sdk_chat_completion_not_streamed(sdk, api_key, settle_spy):
    completion = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to the SDK"},
        ],
        max_tokens=20,
    )
    assert completion.object == "chat.completion"
    assert completion.model == "flowmatik-demo"
    assert "Say hello to the SDK" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    event = settle_spy[0]
    assert event.endpoint == "openai.chat"
    assert event.api_key_id == api_key[1].pk
    assert event.status == CallStatus.SUCCESS


def test_sdk_chat_completion_streamed_with_usage(sdk, settle_spy):
    stream = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "[[words:20]] stream to the SDK"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "stream to the SDK" in text
    assert chunks[-1].usage.completion_tokens == 20
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
    assert settle_spy[0].endpoint == "openai.chat.stream"


def test_sdk_streamed_tool_calls(sdk):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}},
                },
            },
        }
    ]
    completion = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "find cats"}],
        tools=tools,
    )
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "lookup"
    assert call.function.arguments == '{"query": "find cats"}'
    assert completion.choices[0].finish_reason == "tool_calls"


def test_sdk_lists_the_models_the_plan_allows(sdk):
    ids = [m.id for m in sdk.models.list()]
    assert "flowmatik-demo" in ids
    assert "flowmatik-demo-pro" not in ids  # Pro plan only


def test_sdk_gets_openai_shaped_errors(sdk, live_asgi):
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        )
    assert err.value.code == "unknown_model"
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(
            model="flowmatik-demo-pro", messages=[{"role": "user", "content": "x"}]
        )
    bad = openai.OpenAI(base_url=f"{live_asgi}/v1", api_key="fmk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_sdk_sees_provider_failure_as_a_5xx(sdk):
    with pytest.raises(openai.InternalServerError) as err:
        sdk.chat.completions.create(
            model="flowmatik-demo",
            messages=[{"role": "user", "content": "[[fault:500]] boom"}],
        )
    assert err.value.status_code == 502


def test_sdk_ignores_keepalive_pings_in_slow_streams(sdk, monkeypatch):
    from flowmatik import sse

    monkeypatch.setattr(sse, "SSE_KEEPALIVE_SECONDS", 0.05)
    stream = sdk.chat.completions.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "[[delay:0.3]] [[words:3]] slow"}],
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("[Local demo model")


def test_sdk_responses_carry_the_rate_limit_headers(sdk):
    raw = sdk.chat.completions.with_raw_response.create(
        model="flowmatik-demo",
        messages=[{"role": "user", "content": "headers please"}],
        max_tokens=5,
    )
    assert raw.parse().choices[0].message.content
    assert int(raw.headers["x-ratelimit-limit-requests"]) > 0
    assert "x-ratelimit-remaining-requests" in raw.headers
    assert raw.headers["x-request-id"].startswith("req_")
