"""`/ws/notifications/`: relays the user's and the broadcast events to the socket.

Server → client frames are the stored notifications as serialized by
`notifications.services.notification_serialize` (``{"type": "notification", "id",
"kind", "title", "body", "data", "created_at"}``). Client → server: ``{"type":
"ping"}`` is answered with ``{"type": "pong"}``; anything else with ``{"type":
"error", "code": "invalid_message", "message"}``. Nothing else is pushed from here:
events arrive from `flowmatik.realtime` after their transaction commits. A client
that reconnects fetches what it missed with ``GET /api/notifications?since=``.
"""

import asyncio
import contextlib
import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from flowmatik import realtime
from flowmatik.ws_auth import CloseOnExpiryMixin

logger = logging.getLogger("flowmatik.notifications")


class NotificationConsumer(CloseOnExpiryMixin, AsyncJsonWebsocketConsumer):
    groups_joined: tuple[str, ...] = ()
    counted = False
    closed = False
    _refresh: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        identity = self.scope["identity"]
        self.groups_joined = (
            realtime.user_group(identity.user_id),
            realtime.BROADCAST_GROUP,
        )
        await self._join_groups()
        await self.accept(subprotocol=self.scope.get("auth_subprotocol"))
        self.arm_auth_expiry()
        await realtime.connection_opened()
        self.counted = True

    async def _join_groups(self) -> None:
        """Join (again): the layer forgets a membership after `group_expiry`, so a
        socket open for longer re-joins at half that period (a timer, not a task,
        to keep idle sockets small)."""
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        if self.closed:  # disconnected meanwhile: leave again, no timer
            for group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
            return
        expiry = getattr(self.channel_layer, "group_expiry", 86400)
        self._refresh = asyncio.get_running_loop().call_later(
            max(1.0, expiry / 2), self._schedule_rejoin
        )

    def _schedule_rejoin(self) -> None:
        self._rejoin_task = asyncio.ensure_future(self._join_groups())

    async def disconnect(self, code: int) -> None:
        self.closed = True
        self.disarm_auth_expiry()
        if self._refresh is not None:
            self._refresh.cancel()
        try:
            for group in self.groups_joined:
                try:
                    await self.channel_layer.group_discard(group, self.channel_name)
                except Exception:  # e.g. the layer's pool busy as hundreds close
                    # The membership expires with the layer's group_expiry.
                    logger.warning("Socket group not left: %s", group, exc_info=True)
        finally:  # the process's open-socket count is right whatever the layer did
            if self.counted:
                self.counted = False
                await realtime.connection_closed()

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.send_json(
            {
                "type": "error",
                "code": "invalid_message",
                "message": 'Only {"type": "ping"} is accepted on this socket.',
            }
        )

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Malformed JSON and binary frames get an `invalid_message` error frame
        instead of crashing the consumer."""
        try:
            content = await self.decode_json(text_data) if text_data else None
        except ValueError:
            content = None
        await self.receive_json(content)

    async def notify_event(self, message) -> None:
        # The client may have left meanwhile; the event stays stored.
        with contextlib.suppress(OSError):
            await self.send_json(message["event"])
