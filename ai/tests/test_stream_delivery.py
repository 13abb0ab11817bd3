"""A streamed `/v1/chat/completions` as the ASGI server sees it: the events that
queued while a send was slow leave together, and a slow client holds the chat's
reader back."""

import asyncio
import json
import secrets
import threading

import pytest

from accounts.credentials import API_KEY_PREFIX, api_key_hash
from accounts.models import ApiKey
from accounts.tests.factories import UserFactory
from billing.tests.factories import subscription_row

pytestmark = pytest.mark.usefixtures("catalogue_tx")


@pytest.fixture
def api_key(transactional_db) -> str:
    raw = f"{API_KEY_PREFIX}{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"
    owner = UserFactory()
    subscription_row(user=owner, plan="starter")
    ApiKey.objects.create(
        user=owner, name="stream", prefix=raw[4:12], hashed_key=api_key_hash(raw)
    )
    return raw


def _stream(key: str, prompt: str, send=None) -> list[dict]:
    """The ASGI messages the platform sends for one streamed chat, on an event loop
    in a thread of its own, as a uvicorn worker runs it: nothing of the test's
    database connections is visible there (the handler's request signals run on
    the loop, and close-old-connections there would touch a test connection)."""
    out: dict = {}

    def serve() -> None:
        try:
            out["sent"] = asyncio.run(_astream(key, prompt, send))
        except BaseException as exc:  # re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=serve, name="stream-delivery-loop")
    thread.start()
    thread.join(120)
    if "error" in out:
        raise out["error"]
    return out["sent"]


async def _astream(key: str, prompt: str, send=None) -> list[dict]:
    from flowmatik.asgi import application

    body = json.dumps(
        {
            "model": "flowmatik-demo",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 4000,
            "stream": True,
        }
    ).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []
    requested = False

    async def receive() -> dict:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # the client stays
        return {}

    async def record(message: dict) -> None:
        sent.append(message)
        if send is not None:
            await send(message)

    await application(scope, receive, record)
    return sent


def _bodies(sent: list[dict]) -> list[bytes]:
    return [
        m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")
    ]


def _content_chunks(body: bytes) -> int:
    return body.count(b'"content":')


def test_chunks_that_queued_during_a_slow_send_leave_together(api_key):
    async def slow_first_body(message: dict) -> None:
        if message["type"] == "http.response.body" and not slow_first_body.done:
            slow_first_body.done = True
            await asyncio.sleep(1.0)  # a client not reading: the chat goes on

    slow_first_body.done = False
    prompt = "Tell me a story [[words:40]]"
    paced = _bodies(_stream(api_key, prompt))
    held = _bodies(_stream(api_key, prompt, send=slow_first_body))

    assert b"".join(held).split(b"\n\n")[-2] == b"data: [DONE]"
    chunks = sum(_content_chunks(b) for b in held)
    assert chunks == sum(_content_chunks(b) for b in paced) >= 20
    assert b'"role":"assistant"' in held[0]  # sent at once, alone
    # what queued meanwhile left in a few sends, not one send per chunk (a loaded
    # machine may not have read the whole answer by the time the send returns)
    assert len(held) <= 8
    assert max(_content_chunks(b) for b in held) >= chunks // 2


def test_a_slow_client_holds_the_reader_back(api_key, settings):
    settings.STREAM_READ_AHEAD_EVENTS = 4

    async def slow(message: dict) -> None:
        if message["type"] == "http.response.body":
            await asyncio.sleep(0.02)

    held = _bodies(_stream(api_key, "Tell me a story [[words:40]]", send=slow))

    assert sum(_content_chunks(b) for b in held) >= 20
    assert max(_content_chunks(b) for b in held) <= 4
