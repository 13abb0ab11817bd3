"""`/ws/chat/`: stream a chat reply over a WebSocket, through the one chat path.

Client → server::

    {"type": "chat", "message": "...", "conversation_id"?: 1, "model"?: "...",
     "agent"?: "...", "request_id"?: "...", "reasoning"?: {"depth": 1..3}}
    {"type": "cancel"}          stop the running generation at once
    {"type": "ping"}            answered with {"type": "pong"}

Server → client, for one `chat`::

    {"type": "start", "request_id", "model", "conversation_id"}
    {"type": "delta", "content", "seq"}    tokens coalesced (~WS_CHAT_COALESCE_MS)
    {"type": "reasoning", "content"}       a reasoning model's thoughts (not the answer)
    {"type": "reasoning_step", "step", "index", ...}   a reasoning step, as it ends
    {"type": "tool_call", "id", "name", "arguments", "step"}      an agent's tool call
    {"type": "tool_result", "id", "name", "content", "is_error", "step"}
    {"type": "usage", "prompt_tokens", "completion_tokens", "total_tokens", ...}
    {"type": "done", "message_id", "conversation_id", "finish_reason"}

or ``{"type": "error", "code", "message", "details"?}`` (the same codes as
`/api/ai/chat`: ``quota_exceeded``, ``rate_limited``, ``unknown_model``, ... plus
``invalid_message`` and ``generation_in_progress``), and after a `cancel`
``{"type": "cancelled", "request_id", "conversation_id"}``.

Admission (quotas, rate limits, models, context) and the stream are
`ai.services.chat_run`, exactly as for `/api/ai/chat`; the message's bounds are
`ai.bounds`', as for every transport. The stream
runs in its own task so the consumer keeps reading: a `cancel` or a disconnect
cancels it, which closes the upstream stream, saves the partial answer and settles
usage for what was generated. One generation runs per socket at a time.
"""

import asyncio
import contextlib
import json
import logging
from typing import Any

import orjson
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from ai import bounds
from ai.services import chat_run
from ai.types import ChatDelta, ChatRequest, ChatStart
from flowmatik import realtime
from flowmatik.client_ip import client_ip_from_scope
from flowmatik.errors import ApplicationError, InvalidInput
from flowmatik.event_relay import EventRelay
from flowmatik.request_context import new_request_id, request_id_var, user_id_var
from flowmatik.ws_auth import CloseOnExpiryMixin

logger = logging.getLogger("flowmatik.ai")


class ChatInputError(ApplicationError):
    code, default_message = "invalid_message", "Invalid message."


def parse_chat(content: Any) -> dict[str, Any]:
    """Validate a `chat` frame; raises ChatInputError with the offending field."""
    try:
        message = bounds.message_text_check(content.get("message"))
    except InvalidInput as exc:
        raise ChatInputError(exc.message, details=exc.details) from None
    conversation_id = content.get("conversation_id")
    if conversation_id is not None and (
        isinstance(conversation_id, bool) or not isinstance(conversation_id, int)
    ):
        raise ChatInputError('"conversation_id" must be an integer.')
    parsed: dict[str, Any] = {"message": message, "conversation_id": conversation_id}
    for name in ("model", "agent", "request_id"):
        value = content.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 128):
            raise ChatInputError(f'"{name}" must be a string of at most 128 chars.')
        parsed[name] = value or None
    reasoning = content.get("reasoning")
    depth = reasoning.get("depth", 0) if isinstance(reasoning, dict) else None
    if reasoning is not None and (
        isinstance(depth, bool) or not isinstance(depth, int)
    ):
        raise ChatInputError('"reasoning" must be {"depth": 1 | 2 | 3}.')
    parsed["reasoning_depth"] = depth or 0
    return parsed


class ChatConsumer(CloseOnExpiryMixin, AsyncJsonWebsocketConsumer):
    task: asyncio.Task | None = None
    counted = False

    async def connect(self) -> None:
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        self.arm_auth_expiry()
        await realtime.connection_opened()
        self.counted = True

    async def before_expiry_close(self) -> None:
        await self._stop_generation()  # partial saved, usage settled

    async def disconnect(self, code: int) -> None:
        self.disarm_auth_expiry()
        await self._stop_generation()
        if self.counted:
            self.counted = False
            await realtime.connection_closed()

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Malformed JSON and binary frames get an `invalid_message` error frame
        instead of crashing the consumer."""
        try:
            content = await self.decode_json(text_data) if text_data else None
        except (ValueError, RecursionError):  # malformed or nested too deep
            content = None
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "chat":
            await self._start_generation(content)
        elif kind == "cancel":
            await self._cancel()
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self._send_error(
                "invalid_message", 'Send {"type": "chat" | "cancel" | "ping", ...}.'
            )

    @classmethod
    async def encode_json(cls, content) -> str:
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def _send_error(
        self, code: str, message: str, details: dict | None = None
    ) -> None:
        frame = {"type": "error", "code": code, "message": message}
        if details:
            frame["details"] = details
        await self.send_json(frame)

    async def _start_generation(self, content: dict) -> None:
        if self.auth_expired:  # closing with 4401: no new work
            return
        if self.task is not None and not self.task.done():
            await self._send_error(
                "generation_in_progress",
                "A reply is still streaming on this socket; cancel it first.",
            )
            return
        try:
            request = parse_chat(content)
        except ChatInputError as exc:
            await self._send_error(exc.code, exc.message, exc.details)
            return
        request["request_id"] = request["request_id"] or new_request_id()
        self.task = asyncio.create_task(self._generate(request))

    async def _cancel(self) -> None:
        task = self.task
        if task is None or task.done():
            return
        request_id, conversation_id = self._current
        await self._stop_generation()
        await self.send_json(
            {
                "type": "cancelled",
                "request_id": request_id,
                "conversation_id": conversation_id,
            }
        )

    async def _stop_generation(self) -> None:
        """Cancel the generation and wait for its cleanup (partial saved, usage
        settled) so nothing of it outlives the socket or the cancel."""
        task, self.task = self.task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    _current: tuple[str | None, int | None] = (None, None)

    async def _generate(self, request: dict[str, Any]) -> None:
        identity = self.scope["identity"]
        request_id_var.set(request["request_id"])
        user_id_var.set(str(identity.user_id))
        self._current = (request["request_id"], request["conversation_id"])
        try:
            stream = await chat_run(
                ChatRequest(
                    user_id=identity.user_id,
                    api_key_id=identity.api_key_id,
                    request_id=request["request_id"],
                    endpoint="ws.chat",
                    message=request["message"],
                    conversation_id=request["conversation_id"],
                    model=request["model"],
                    agent=request["agent"],
                    persist=True,
                    stream=True,
                    ip=client_ip_from_scope(self.scope) or None,
                    reasoning_depth=request["reasoning_depth"],
                )
            )
            await self._relay(stream.events, request["request_id"])
        except ApplicationError as exc:
            await self._send_error(exc.code, exc.message, exc.details)
        except asyncio.CancelledError:
            raise
        except OSError:  # the client went away while we were sending
            logger.info("WebSocket chat stopped: client gone")
        except Exception:
            logger.exception("WebSocket chat failed")
            with contextlib.suppress(Exception):  # the socket may be gone
                await self._send_error("internal_error", "An unexpected error.")

    async def _relay(self, events, request_id: str) -> None:
        """Send the stream's events: the first delta at once (time to first token),
        later deltas coalesced into one frame per window.

        The stream is read by a task of its own (`EventRelay`), so that a pending
        partial frame is flushed on time even while the provider is silent; what
        arrived meanwhile is taken at once (one timer per window, not per event).
        """
        relay = EventRelay(events)
        window = settings.WS_CHAT_COALESCE_MS / 1000
        loop = relay.loop
        buffer: list[str] = []
        deadline = 0.0
        timer: asyncio.TimerHandle | None = None
        seq = 0

        async def flush() -> None:
            nonlocal seq, timer
            if timer is not None:
                timer.cancel()
                timer = None
            if buffer:
                seq += 1
                text = "".join(buffer)
                buffer.clear()
                await self.send(
                    text_data=orjson.dumps(
                        {"type": "delta", "content": text, "seq": seq}
                    ).decode()
                )

        try:
            while True:
                await relay.wait()
                batch = relay.take()
                if not batch:
                    if relay.finished:
                        relay.raise_error()
                        break
                    await flush()  # the window's deadline: nothing else came
                    continue
                for item in batch:
                    if isinstance(item, ChatDelta):
                        if not buffer:
                            deadline = loop.time() + window
                            if seq:  # the first delta leaves at once
                                timer = loop.call_at(deadline, relay.wake)
                        buffer.append(item.content or "")
                        if seq == 0 or loop.time() >= deadline:
                            await flush()
                        continue
                    await flush()
                    if isinstance(item, ChatStart):
                        self._current = (request_id, item.conversation_id)
                    await self.send_json(item.as_dict())
            await flush()
        finally:
            if timer is not None:
                timer.cancel()
            await relay.close()
