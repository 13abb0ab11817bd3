"""One-use WebSocket tickets for the portal's logged-in browser session.

A browser cannot put an `Authorization` header on a WebSocket, and the portal holds
no JWT: the page asks `POST /app/ws-ticket/` (session + CSRF) for a ticket and opens
the socket with the subprotocol pair ``["ticket", <ticket>]``
(`static/portal/js/socket.js`). A ticket is random, stored hashed in the cache for
`WS_TICKET_TTL_SECONDS`, bound to the session, the user and the page's origin, and
redeemed once: a reused, expired or foreign-origin ticket resolves to nobody.
"""

import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.utils.module_loading import import_string

from accounts.models import User

TICKET_BYTES = 32
_KEY_PREFIX = "fmk:wsticket:"
SESSION_TAG_KEY = "_ws_tag"  # in the session: names its sockets, survives cycle_key


@dataclass(frozen=True)
class TicketHolder:
    """Who a redeemed ticket was minted for."""

    user_id: int
    email: str
    is_staff: bool
    session_tag: str = ""


def _cache_key(ticket: str) -> str:
    return _KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def ws_session_tag(session: SessionBase) -> str:
    """The session's socket tag (made on first use): the sockets opened with its
    tickets carry it, so a log-out or a password change there can tell them apart.
    Random, not the session key (a credential), and kept when the key is cycled."""
    tag = session.get(SESSION_TAG_KEY)
    if not isinstance(tag, str) or not tag:
        tag = secrets.token_hex(16)
        session[SESSION_TAG_KEY] = tag
    return tag


def ws_ticket_mint(
    *, user_id: int, session_key: str, origin: str, session_tag: str = ""
) -> str:
    """A fresh ticket for `user_id`'s session, usable once from `origin`."""
    ticket = secrets.token_urlsafe(TICKET_BYTES)
    cache.set(
        _cache_key(ticket),
        {
            "user_id": user_id,
            "session_key": session_key,
            "origin": origin,
            "session_tag": session_tag,
        },
        timeout=settings.WS_TICKET_TTL_SECONDS,
    )
    return ticket


def _session_alive(session_key: str, user_id: int) -> bool:
    engine = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    session: SessionBase = engine(session_key=session_key)
    return str(session.get("_auth_user_id", "")) == str(user_id)


def ws_ticket_redeem(*, ticket: str, origin: str) -> TicketHolder | None:
    """The holder of a live `ticket` presented from its own origin, else None.

    The ticket is spent by this call whatever the outcome (a second use fails); a
    logged-out session or an inactive user also resolves to None.
    """
    if not ticket or len(ticket) > 256:
        return None
    key = _cache_key(ticket)
    entry = cache.get(key)
    # delete() answers whether this call removed it: of two racing redeems, one wins.
    if not isinstance(entry, dict) or not cache.delete(key):
        return None
    if not origin or origin != entry.get("origin"):
        return None
    user_id = int(entry["user_id"])
    if not _session_alive(str(entry.get("session_key", "")), user_id):
        return None
    user = (
        User.objects.filter(pk=user_id, is_active=True)
        .only("email", "is_staff")
        .first()
    )
    if user is None:
        return None
    return TicketHolder(
        user_id=user.pk,
        email=user.email,
        is_staff=user.is_staff,
        session_tag=str(entry.get("session_tag", "")),
    )
