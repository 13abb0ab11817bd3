"""The per-process AI limits (`flowmatik.overload`) through their ASGI interface.

An ASGI app stands behind the middleware where Django would: it holds each request
until the test lets it go and, like the gateway, takes a slot among the admitted
calls with `ai_call_admitted()`. Whole-platform floods on a real uvicorn are in
`ai/tests/test_fault_overload.py`.
"""

import asyncio
import json

import pytest

from flowmatik.overload import AiConcurrencyLimit, Overloaded, ai_call_admitted


class _Backend:
    """Where Django would be: counts requests inside, holds each until released."""

    def __init__(self, *, admit: bool = False) -> None:
        self.admit = admit
        self.inside = 0
        self.most_inside = 0
        self.entered: list[int] = []
        self.release: dict[int, asyncio.Event] = {}

    async def __call__(self, scope, receive, send):
        n = int(scope["path"].rsplit("/", 1)[1])
        # As Django: the whole body first; a client gone meanwhile gets no answer.
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            if not message.get("more_body", False):
                break
        self.entered.append(n)
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        status = 200
        try:
            if self.admit:
                try:
                    ai_call_admitted()
                except Overloaded:
                    status = 503
            if status == 200:
                await self.release.setdefault(n, asyncio.Event()).wait()
        finally:
            self.inside -= 1
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def _call(
    app, n: int, *, body_sent: asyncio.Event | None = None
) -> tuple[int, dict, bytes]:
    """One request; with `body_sent`, its body's last part comes once it is set."""
    scope = {"type": "http", "method": "POST", "path": f"/v1/call/{n}", "headers": []}
    sent: list[dict] = []
    parts = [b"{", b"}"] if body_sent is not None else [b"{}"]

    async def receive():
        if len(parts) > 1:
            return {"type": "http.request", "body": parts.pop(0), "more_body": True}
        if body_sent is not None:
            await body_sent.wait()
        return {"type": "http.request", "body": parts.pop(0), "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, sent[1]["body"]


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _release(backend: _Backend, n: int) -> None:
    backend.release.setdefault(n, asyncio.Event()).set()


@pytest.fixture
def limits(settings):
    settings.AI_MAX_PENDING_REQUESTS = 100
    settings.AI_ADMISSION_CONCURRENCY = 2
    settings.AI_ADMISSION_WAIT_SECONDS = 10.0
    settings.AI_MAX_CONCURRENT_REQUESTS = 100
    settings.AI_OVERLOAD_RETRY_AFTER_SECONDS = 3
    return settings


def test_requests_past_the_admission_concurrency_wait_their_turn_in_order(limits):
    async def scenario():
        backend = _Backend()
        app = AiConcurrencyLimit(backend)
        calls = [asyncio.create_task(_call(app, n)) for n in range(6)]
        await _settle()
        assert backend.entered == [0, 1]  # the others wait, none refused
        for n in range(6):
            _release(backend, n)
            await _settle()
        results = await asyncio.gather(*calls)
        return backend, app, results

    backend, app, results = asyncio.run(scenario())
    assert [status for status, _, _ in results] == [200] * 6
    assert backend.most_inside == 2
    assert backend.entered == list(range(6))  # in arrival order
    assert (app.pending, app.admitted, app.gate.held) == (0, 0, 0)


def test_a_request_waiting_past_the_admission_wait_is_refused_overloaded(limits):
    limits.AI_ADMISSION_CONCURRENCY = 1
    limits.AI_ADMISSION_WAIT_SECONDS = 0.05

    async def scenario():
        backend = _Backend()
        app = AiConcurrencyLimit(backend)
        first = asyncio.create_task(_call(app, 0))
        await _settle()
        refused = await _call(app, 1)
        _release(backend, 0)
        return backend, app, await first, refused

    backend, app, first, refused = asyncio.run(scenario())
    assert first[0] == 200
    status, headers, body = refused
    assert status == 503
    assert json.loads(body)["error"]["code"] == "overloaded"
    assert headers["retry-after"] == "3"
    assert backend.entered == [0]
    assert (app.pending, app.gate.held) == (0, 0)


def test_an_admitted_call_leaves_the_admission_gate_to_the_next(limits):
    limits.AI_ADMISSION_CONCURRENCY = 1

    async def scenario():
        backend = _Backend(admit=True)
        app = AiConcurrencyLimit(backend)
        calls = [asyncio.create_task(_call(app, n)) for n in range(4)]
        await _settle()
        # All four admitted and running at once, through a gate of one.
        inside = backend.inside
        for n in range(4):
            _release(backend, n)
        return inside, app, await asyncio.gather(*calls)

    inside, app, results = asyncio.run(scenario())
    assert inside == 4
    assert [status for status, _, _ in results] == [200] * 4
    assert (app.pending, app.admitted, app.gate.held) == (0, 0, 0)


def test_admitted_calls_past_the_limit_are_refused_and_their_slots_come_back(limits):
    limits.AI_MAX_CONCURRENT_REQUESTS = 2

    async def scenario():
        backend = _Backend(admit=True)
        app = AiConcurrencyLimit(backend)
        running = [asyncio.create_task(_call(app, n)) for n in range(2)]
        await _settle()
        refused = await _call(app, 2)
        admitted_while_full = app.admitted
        _release(backend, 0)
        await running[0]
        again = asyncio.create_task(_call(app, 3))
        await _settle()
        _release(backend, 1)
        _release(backend, 3)
        return app, refused, admitted_while_full, await running[1], await again

    app, refused, admitted_while_full, second, again = asyncio.run(scenario())
    assert refused[0] == 503
    assert admitted_while_full == 2
    assert second[0] == 200
    assert again[0] == 200  # the first call's slot came back
    assert (app.pending, app.admitted, app.gate.held) == (0, 0, 0)


def test_requests_past_the_pending_cap_are_refused_before_the_app(limits):
    limits.AI_MAX_PENDING_REQUESTS = 3

    async def scenario():
        backend = _Backend(admit=True)
        app = AiConcurrencyLimit(backend)
        held = [asyncio.create_task(_call(app, n)) for n in range(3)]
        await _settle()
        refused = await _call(app, 3)
        for n in range(3):
            _release(backend, n)
        return backend, app, refused, await asyncio.gather(*held)

    backend, app, refused, held = asyncio.run(scenario())
    assert refused[0] == 503
    assert json.loads(refused[2])["error"]["code"] == "overloaded"
    assert 3 not in backend.entered
    assert [status for status, _, _ in held] == [200] * 3
    assert app.pending == 0


def test_other_paths_and_methods_are_not_counted(limits):
    limits.AI_MAX_PENDING_REQUESTS = 1

    async def scenario():
        async def plain(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        app = AiConcurrencyLimit(plain)
        app.pending = 1  # at the cap
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        for method, path in (("GET", "/v1/models"), ("POST", "/api/auth/login")):
            scope = {"type": "http", "method": method, "path": path, "headers": []}
            await app(scope, receive, send)
        return [m["status"] for m in sent if m["type"] == "http.response.start"]

    assert asyncio.run(scenario()) == [200, 200]


def test_a_client_sending_its_body_slowly_holds_no_place_in_the_gate(limits):
    """The gate counts requests from their whole body to their admission: clients
    trickling bodies in (or never finishing them) do not keep others waiting."""
    limits.AI_ADMISSION_CONCURRENCY = 1
    limits.AI_ADMISSION_WAIT_SECONDS = 0.2

    async def scenario():
        backend = _Backend()
        app = AiConcurrencyLimit(backend)
        slow_body = asyncio.Event()
        slow = [
            asyncio.create_task(_call(app, n, body_sent=slow_body)) for n in range(3)
        ]
        await _settle()
        held = app.gate.held
        fast = asyncio.create_task(_call(app, 3))
        await _settle()
        _release(backend, 3)
        fast_result = await asyncio.wait_for(fast, 5)
        slow_body.set()  # the slow bodies end: they queue for the gate in turn
        for n in range(3):
            await _settle()
            _release(backend, n)
        return held, fast_result, app, await asyncio.gather(*slow)

    held, fast, app, slow = asyncio.run(scenario())
    assert held == 0
    assert fast[0] == 200
    assert [status for status, _, _ in slow] == [200] * 3
    assert (app.pending, app.gate.held) == (0, 0)


def test_a_request_refused_at_the_gate_gets_one_answer_the_refusal(limits):
    """Past the wait the application is told the client left, answers nothing, and
    the 503 is the only response sent."""
    limits.AI_ADMISSION_CONCURRENCY = 1
    limits.AI_ADMISSION_WAIT_SECONDS = 0.05

    async def scenario():
        backend = _Backend()
        app = AiConcurrencyLimit(backend)
        first = asyncio.create_task(_call(app, 0))
        await _settle()
        scope = {"type": "http", "method": "POST", "path": "/v1/call/1", "headers": []}
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        _release(backend, 0)
        await first
        return backend, sent

    backend, sent = asyncio.run(scenario())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 503
    assert 1 not in backend.entered
