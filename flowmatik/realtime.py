"""Push events to WebSocket clients, always after the surrounding transaction commits.

Workers, webhook handlers and services call `push_to_user` / `push_broadcast`; the
notification consumer relays the event to the socket. Consumers never push their own
writes. A push that the channel layer refuses (over capacity) is counted, not raised:
the event is already stored, so the client can fetch it later.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("flowmatik.realtime")

BROADCAST_GROUP = "broadcast"
EVENT_HANDLER = "notify.event"  # consumer method `notify_event`


def user_group(user_id: object) -> str:
    return f"user.{user_id}"


def _send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": EVENT_HANDLER, "event": event})
    except ChannelFull:
        logger.warning("Realtime push dropped: channel full", extra={"group": group})
    except Exception:
        logger.exception("Realtime push failed", extra={"group": group})


def push_to_user(*, user_id: object, event: dict[str, Any]) -> None:
    """Send `event` to every socket of `user_id` once the transaction commits."""
    transaction.on_commit(lambda: _send(user_group(user_id), event))


def push_broadcast(*, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: _send(BROADCAST_GROUP, event))
