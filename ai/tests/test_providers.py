"""The provider layer against the demo model over HTTP: retries, mapping, breaker."""

import io
import logging
import secrets
import time
import wave

import pytest
from PIL import Image

from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ai.providers.chat import chat_complete_upstream, chat_stream_upstream
from ai.providers.circuit import circuit_status
from ai.providers.media import image_generate, speech_create
from ai.providers.registry import client_for, providers_from_settings
from ai.types import ProviderConfig
from flowmatik.testing.fake_http import FakeServer

SECRET = "sk-demo-secret-never-logged-123"


@pytest.fixture
def provider(demo_server) -> ProviderConfig:
    return ProviderConfig("demo", "demo", demo_server.base_url, SECRET)


def _messages(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def _collect(provider, text, **kwargs):
    chunks = []
    async for chunk in chat_stream_upstream(
        provider=provider,
        model="flowmatik-demo",
        messages=_messages(text),
        max_tokens=kwargs.pop("max_tokens", 64),
        **kwargs,
    ):
        chunks.append(chunk)
    return chunks


async def test_stream_asks_for_usage_and_reports_it(provider, demo_server):
    chunks = await _collect(provider, "hello there")
    text = "".join(c.content for c in chunks)
    assert "Local demo model" in text
    usage = [c for c in chunks if c.prompt_tokens is not None]
    assert usage
    assert usage[-1].completion_tokens > 0
    body = demo_server.chat_calls()[-1]["body"]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_demo_text_is_deterministic_and_derived_from_the_prompt(provider):
    first = await chat_complete_upstream(
        provider=provider, model="m", messages=_messages("plan a launch"), max_tokens=40
    )
    again = await chat_complete_upstream(
        provider=provider, model="m", messages=_messages("plan a launch"), max_tokens=40
    )
    other = await chat_complete_upstream(
        provider=provider, model="m", messages=_messages("write a poem"), max_tokens=40
    )
    assert first.content == again.content != other.content
    assert "plan a launch" in first.content
    assert first.prompt_tokens > 0
    assert first.completion_tokens > 0


async def test_max_tokens_cuts_the_answer_with_finish_reason_length(provider):
    result = await chat_complete_upstream(
        provider=provider,
        model="m",
        messages=_messages("[[words:40]] hi"),
        max_tokens=5,
    )
    assert result.finish_reason == "length"
    assert result.completion_tokens == 5


async def test_429_before_the_first_byte_is_retried_then_succeeds(
    provider, demo_server
):
    chunks = await _collect(provider, "[[fault:429x1]] retry me")
    assert "".join(c.content for c in chunks)
    assert len(demo_server.chat_calls()) == 2


async def test_5xx_is_retried_then_mapped_to_502_provider_error(
    provider, demo_server, settings
):
    settings.AI_MAX_RETRIES = 2
    with pytest.raises(ProviderError) as err:
        await _collect(provider, "[[fault:500]] always failing")
    assert err.value.status_code == 502
    assert err.value.code == "provider_error"
    assert "raw provider body" not in err.value.message
    assert len(demo_server.chat_calls()) == 3  # 1 + 2 retries


async def test_persistent_429_maps_to_503_with_retry_after(provider, demo_server):
    with pytest.raises(ProviderUnavailable) as err:
        await chat_complete_upstream(
            provider=provider,
            model="m",
            messages=_messages("[[fault:429]] x"),
            max_tokens=8,
        )
    assert err.value.status_code == 503
    assert "Retry-After" in err.value.headers()
    assert len(demo_server.chat_calls()) == 3


async def test_timeout_maps_to_504_and_is_not_retried(provider, demo_server, settings):
    settings.AI_REQUEST_TIMEOUT_SECONDS = 0.3
    started = time.monotonic()
    with pytest.raises(ProviderTimeout) as err:
        await _collect(provider, "[[fault:timeout]] slow")
    assert err.value.status_code == 504
    assert time.monotonic() - started < 2
    assert len(demo_server.chat_calls()) == 1


async def test_broken_stream_after_first_byte_is_an_error_and_not_retried(
    provider, demo_server
):
    received = []

    async def consume():
        async for chunk in chat_stream_upstream(
            provider=provider,
            model="flowmatik-demo",
            messages=_messages("[[fault:broken]] cut me"),
            max_tokens=64,
        ):
            received.append(chunk)

    with pytest.raises(ProviderError):
        await consume()
    assert any(c.content for c in received)  # output had begun
    assert len(demo_server.chat_calls()) == 1  # never retried after the first byte


async def test_unreachable_provider_is_503_after_retries():
    dead = ProviderConfig("dead", "openai_compatible", "http://127.0.0.1:9/v1", "k")
    with pytest.raises(ProviderUnavailable) as err:
        await _collect(dead, "hello")
    assert err.value.code == "provider_unavailable"


async def test_circuit_opens_after_repeated_faults_and_fails_fast(
    provider, demo_server, settings
):
    settings.AI_MAX_RETRIES = 0
    settings.AI_CIRCUIT_FAILURE_THRESHOLD = 2
    for _ in range(2):
        with pytest.raises(ProviderError):
            await _collect(provider, "[[fault:503]] down")
    assert circuit_status("demo")["circuit"] == "open"
    calls = len(demo_server.chat_calls())
    with pytest.raises(ProviderUnavailable) as err:
        await _collect(provider, "healthy prompt")
    assert "circuit" in err.value.message
    assert len(demo_server.chat_calls()) == calls  # the provider was not called


async def test_half_open_probe_success_closes_the_circuit(
    provider, settings, time_machine
):
    settings.AI_MAX_RETRIES = 0
    settings.AI_CIRCUIT_FAILURE_THRESHOLD = 1
    settings.AI_CIRCUIT_RESET_SECONDS = 30
    with pytest.raises(ProviderError):
        await _collect(provider, "[[fault:500]] down")
    assert circuit_status("demo")["circuit"] == "open"
    time_machine.move_to(time.time() + 31, tick=True)
    assert circuit_status("demo")["circuit"] == "half_open"
    await _collect(provider, "back up")
    status = circuit_status("demo")
    assert status["circuit"] == "closed"
    assert status["last_success_at"] is not None


async def test_tool_calls_are_streamed_and_accumulated(provider):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "word_count",
                "parameters": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                },
            },
        }
    ]
    chunks = await _collect(provider, "count these words", tools=tools)
    deltas = [d for c in chunks for d in c.tool_calls]
    assert deltas[0]["name"] == "word_count"
    assert deltas[0]["id"]
    arguments = "".join(d["arguments"] or "" for d in deltas)
    assert arguments == '{"text": "count these words"}'
    assert any(c.finish_reason == "tool_calls" for c in chunks)

    done = await chat_complete_upstream(
        provider=provider,
        model="m",
        messages=_messages("count these words"),
        max_tokens=32,
        tools=tools,
    )
    assert done.finish_reason == "tool_calls"
    assert done.tool_calls[0]["function"]["name"] == "word_count"


async def test_images_in_siliconflow_shape_are_real_pngs(provider):
    import httpx2

    result = await image_generate(
        provider=provider,
        model="flowmatik-demo-image",
        prompt="a red fox",
        image_size="64x48",
    )
    assert len(result.urls) == 1
    async with httpx2.AsyncClient() as client:
        png = (await client.get(result.urls[0])).content
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (64, 48)


async def test_speech_is_a_real_wav(provider):
    speech = await speech_create(
        provider=provider, model="flowmatik-demo-tts", text="hello"
    )
    assert speech.content_type == "audio/wav"
    with wave.open(io.BytesIO(speech.audio)) as wav:
        assert wav.getnchannels() == 1
        assert wav.getnframes() > 0


async def test_one_client_per_provider_is_reused(provider):
    assert client_for(provider) is client_for(provider)


async def test_keys_never_reach_logs(provider, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError):
        await _collect(provider, "[[fault:500]] log me")
    assert caplog.records
    assert SECRET not in caplog.text
    assert SECRET not in repr(provider)


def test_demo_serves_only_when_no_provider_key_is_set(settings):
    assert list(providers_from_settings()) == ["demo"]
    settings.SILICONFLOW_API_KEY = "sk-real"
    settings.AI_EXTRA_PROVIDERS = {"ollama": {"base_url": "http://localhost:11434/v1"}}
    assert sorted(providers_from_settings()) == ["ollama", "siliconflow"]
    settings.SILICONFLOW_API_KEY = "your-api-key"  # the .env.example placeholder
    assert "siliconflow" not in providers_from_settings()


class _Upstream(FakeServer):
    """An OpenAI-compatible chat endpoint answering what the test sets."""

    def __init__(self, answer):
        super().__init__()
        self.answer = answer
        self.route("POST", r"/v1/chat/completions", lambda record: self.answer)


@pytest.fixture
def upstream():
    server = _Upstream(None).start()
    yield server
    server.stop()


def _config(server, name: str = "fake") -> ProviderConfig:
    return ProviderConfig(name, "fake", f"{server.url}/v1", SECRET)


async def test_a_completion_sends_the_sdks_body_and_reads_every_field(upstream):
    upstream.answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Olá ✓",
                    "reasoning_content": "thought",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"q":1}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
    }
    completion = await chat_complete_upstream(
        provider=_config(upstream),
        model="m",
        messages=_messages("héllo"),
        max_tokens=9,
        temperature=0.5,
        request_id="req_abc",
    )

    assert (completion.content, completion.reasoning) == ("Olá ✓", "thought")
    assert completion.finish_reason == "tool_calls"
    assert (completion.prompt_tokens, completion.completion_tokens) == (7, 3)
    assert completion.tool_calls == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "lookup", "arguments": '{"q":1}'},
        }
    ]
    sent = upstream.last("POST", "/v1/chat/completions")
    assert sent.body == {
        "model": "m",
        "messages": [{"role": "user", "content": "héllo"}],
        "max_tokens": 9,
        "temperature": 0.5,
    }
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["x-request-id"] == "req_abc"
    assert sent.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "answer", ["not a completion", ["a list"], {"choices": "x"}, {"choices": [1]}]
)
async def test_a_200_answer_that_is_not_a_completion_is_a_provider_error(
    upstream, answer
):
    upstream.answer = answer
    name = f"fake-{secrets.token_hex(4)}"
    with pytest.raises(ProviderError) as err:
        await chat_complete_upstream(
            provider=_config(upstream, name),
            model="m",
            messages=_messages("x"),
            max_tokens=4,
        )
    assert err.value.status_code == 502
    assert err.value.code == "provider_error"
    assert circuit_status(name)["consecutive_failures"] == 1
