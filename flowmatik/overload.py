"""Per-process limits on AI requests: the expensive work a web process takes on is
bounded, a flood is answered at once (503 `overloaded`, Retry-After) instead of
queueing until clients time out, and a call the quota refuses gets its real 429.

Three bounds, all per process (one event loop, so the counters need no lock):

- `AI_MAX_PENDING_REQUESTS`: AI POSTs (`/api/ai/`, `/v1/`) held at once from the
  first byte until the response, streams included, has been sent. Past it a request
  is refused before Django, the database or Redis is touched. A cheap cap that keeps
  a flood from exhausting memory and sockets, set well above the next two.
- `AI_ADMISSION_CONCURRENCY`: of those, how many may be between the end of their body
  and their admission (auth, validation, the quota round trip) at once; the others
  wait their turn in arrival order, at most `AI_ADMISSION_WAIT_SECONDS` (then 503).
  A request enters when the application reads its body's last part, so a client
  that sends its body slowly holds no place while it does. A
  burst interleaved on one event loop without this bound made each await wait for
  every other request's step: a Redis reply already in the socket was read after
  `QUOTA_REDIS_TIMEOUT_SECONDS` (503 `quota_unavailable`) and the pool ran out.
- `AI_MAX_CONCURRENT_REQUESTS`: calls admitted by the quota (about to call the
  provider, or streaming) at once. The gateway asks for a slot with
  `ai_call_check()` before the quota admission and takes it with
  `ai_call_admitted()` right after (`ai.services.chat`, `ai.services.studio`); a call
  that finds none is refused 503 `overloaded` and its reservation released. A
  refusal by the quota never holds a slot, so a burst from a customer over quota is
  answered 429 `quota_exceeded`, however large.

Outside an HTTP AI request (Celery tasks, WebSockets) the gateway's calls are
no-ops: the limits are the web process's.
"""

import asyncio
import contextvars
import json
from collections import deque
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop

from flowmatik.errors import ServiceUnavailable
from flowmatik.request_context import new_request_id

AI_PATH_PREFIXES = ("/api/ai/", "/v1/")


class Overloaded(ServiceUnavailable):
    """The process runs as many AI calls as it may (503, Retry-After)."""

    code = "overloaded"
    default_message = gettext_noop("The server is busy, try again shortly.")


def overloaded() -> Overloaded:
    return Overloaded(retry_after=max(1, int(settings.AI_OVERLOAD_RETRY_AFTER_SECONDS)))


def _is_ai_call(scope: dict) -> bool:
    return scope.get("method") == "POST" and scope.get("path", "").startswith(
        AI_PATH_PREFIXES
    )


class _Gate:
    """At most `AI_ADMISSION_CONCURRENCY` holders; the others wait in arrival order.

    The size is read at each entry (a setting changed by a test applies at once)."""

    def __init__(self) -> None:
        self.held = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self, *, size: int, wait_seconds: float) -> bool:
        if size <= 0 or (self.held < size and not self._waiters):
            self.held += 1
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=wait_seconds)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed over as the wait ended: pass it on
            else:
                waiter.cancel()
            return False
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()
            else:
                waiter.cancel()
            raise
        return True

    def leave(self) -> None:
        """Hand the place to the first live waiter (it stays held), else free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.held -= 1


class _Ticket:
    """One AI request's places in the process's limits."""

    __slots__ = ("limit", "gate_asked", "in_gate", "refused", "admitted")

    def __init__(self, limit: "AiConcurrencyLimit") -> None:
        self.limit = limit
        self.gate_asked = False  # the body has been read: the gate was asked
        self.in_gate = False
        self.refused = False  # the gate's wait ran out
        self.admitted = False

    def gate_leave(self) -> None:
        if self.in_gate:
            self.in_gate = False
            self.limit.gate.leave()

    def close(self) -> None:
        self.gate_leave()
        if self.admitted:
            self.admitted = False
            self.limit.admitted -= 1


_ticket: contextvars.ContextVar[_Ticket | None] = contextvars.ContextVar(
    "flowmatik_ai_ticket", default=None
)


def ai_call_check() -> None:
    """Before admitting a call: raise `Overloaded` when the process already runs
    `AI_MAX_CONCURRENT_REQUESTS` admitted calls (nothing is taken yet)."""
    ticket = _ticket.get()
    if ticket is None or ticket.admitted:
        return
    limit = settings.AI_MAX_CONCURRENT_REQUESTS
    if limit > 0 and ticket.limit.admitted >= limit:
        ticket.gate_leave()
        raise overloaded()


def ai_call_admitted() -> None:
    """Right after the quota admitted the call: take its slot among the admitted
    calls, or raise `Overloaded` (the caller then releases the reservation). Once
    per request (an agent's later rounds run in the slot of the first)."""
    ticket = _ticket.get()
    if ticket is None or ticket.admitted:
        return
    ticket.gate_leave()
    limit = settings.AI_MAX_CONCURRENT_REQUESTS
    if limit > 0 and ticket.limit.admitted >= limit:
        raise overloaded()
    ticket.admitted = True
    ticket.limit.admitted += 1


class AiConcurrencyLimit:
    """ASGI middleware in front of Django (`flowmatik.asgi`); see the module
    docstring. `pending` counts AI requests in flight, `admitted` those holding a
    slot among the admitted calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pending = 0
        self.admitted = 0
        self.gate = _Gate()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not _is_ai_call(scope):
            await self.inner(scope, receive, send)
            return
        cap = settings.AI_MAX_PENDING_REQUESTS
        if cap > 0 and self.pending >= cap:
            await _refuse(send)
            return
        self.pending += 1
        ticket = _Ticket(self)
        gate = self.gate

        async def receive_then_gate() -> dict:
            """The request's messages; the last part of the body is handed over
            once the request has its place in the gate. If the wait runs out, the
            application is told the client left (Django then answers nothing) and
            the refusal is sent below."""
            message = await receive()
            if (
                not ticket.gate_asked
                and message["type"] == "http.request"
                and not message.get("more_body", False)
            ):
                ticket.gate_asked = True
                if not await gate.enter(
                    size=settings.AI_ADMISSION_CONCURRENCY,
                    wait_seconds=settings.AI_ADMISSION_WAIT_SECONDS,
                ):
                    ticket.refused = True
                    return {"type": "http.disconnect"}
                ticket.in_gate = True
            return message

        token = _ticket.set(ticket)
        try:
            await self.inner(scope, receive_then_gate, send)
            if ticket.refused:
                await _refuse(send)
        finally:
            _ticket.reset(token)
            ticket.close()
            self.pending -= 1


async def _refuse(send: Any) -> None:
    request_id = new_request_id()
    error = overloaded()
    body = json.dumps(
        {
            "error": {"code": error.code, "message": error.message, "details": {}},
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", error.headers()["Retry-After"].encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
