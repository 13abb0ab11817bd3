"""WebSocket authentication: the API's credentials (JWT access token or API key),
or a one-use ticket minted for the portal's logged-in session.

**The portal (browser session)**: the page asks ``POST /app/ws-ticket/`` (its
session cookie and CSRF token) for ``{"ticket": ...}`` and opens the socket with
the subprotocol pair ``["ticket", <ticket>]``; the server accepts with the
``ticket`` subprotocol. A ticket lives ``WS_TICKET_TTL_SECONDS`` (30 s), is spent by
its first use, and is bound to the session (a logged-out session's ticket fails)
and to the origin of the page that minted it: the socket's ``Origin`` must be the
same, so a page of another site can neither mint one (CSRF) nor use one it stole.
A refused ticket closes with 4401 like any bad credential; the page mints a new
one to reconnect (`static/portal/js/socket.js` does). Such a socket has no expiry
of its own. Why a ticket and not the session cookie itself: the cookie rides on
every cross-site WebSocket handshake (no CORS for sockets), so cookie auth would
hang on the origin check alone; a ticket must first be read by same-origin
JavaScript.

API clients pass their token in one of two ways:

1. **Subprotocol pair (preferred)**: ``new WebSocket(url, ["bearer", token])``, i.e.
   the header ``Sec-WebSocket-Protocol: bearer, <token>``. The server accepts with
   the ``bearer`` subprotocol (never echoing the token). Tokens stay out of URLs and
   therefore out of proxy and access logs.
2. **Query parameter**: ``wss://host/ws/notifications/?token=<token>``, for clients
   that cannot set subprotocols. The token may end up in access logs.

The token is either a JWT access token (``POST /api/auth/login``) or an API key
(``fmk_...``), resolved at connect time by `accounts.identity.aidentity_from_bearer`,
the HTTP API's own checks. A socket opened with a JWT is closed with 4401 when that
token expires (a running chat generation is stopped and saved first); the client
reconnects with a fresh token and fetches what it missed.

Close codes (sent after the handshake completes, so browsers can read them; a close
before the handshake reaches a browser only as 1006):

- ``4401`` unauthenticated: no token, an invalid or expired JWT, a revoked or
  expired API key, or an inactive user (reason ``unauthenticated``); or the JWT
  expired while connected (reason ``token expired``); or the API key the socket
  opened with was revoked while connected (reason ``api key revoked``). Reconnect
  with a fresh token.
- ``4401`` while connected, because of the account (group ``auth.user.<id>``, sent
  after the change commits, across processes through the channel layer): reason
  ``account deactivated`` (staff deactivated the user; every socket closes);
  ``password changed`` (change or reset: every socket closes except those opened
  with an API key, which still works, and, for a change made in the portal, the
  sockets of the session that made it; JWTs minted before the change are refused
  by REST and sockets alike, they carry the old password's fingerprint);
  ``logged out`` (a portal session logged out: the sockets opened with that
  session's tickets); ``role changed`` (the admin role was removed: every socket
  closes, its identity carried the role). A running chat generation is stopped and
  saved first.

A connection from an origin that is not in ``ALLOWED_HOSTS`` is refused before the
handshake (HTTP 403) by Channels' ``AllowedHostsOriginValidator`` in `asgi.py`.
"""

import asyncio
import logging
import time
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.middleware import BaseMiddleware
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.identity import Identity, aidentity_from_bearer
from accounts.services import ws_ticket_redeem

logger = logging.getLogger("flowmatik.realtime")

BEARER_SUBPROTOCOL = "bearer"
TICKET_SUBPROTOCOL = "ticket"
CLOSE_UNAUTHENTICATED = 4401


def credentials_from_scope(scope) -> tuple[str, str | None]:
    """(token, subprotocol to accept) from the subprotocol pair or `?token=`."""
    subprotocols = list(scope.get("subprotocols") or [])
    if BEARER_SUBPROTOCOL in subprotocols:
        index = subprotocols.index(BEARER_SUBPROTOCOL)
        token = subprotocols[index + 1] if index + 1 < len(subprotocols) else ""
        return token.strip(), BEARER_SUBPROTOCOL
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [""])[0].strip(), None


def ticket_from_scope(scope) -> str | None:
    """The portal ticket of the ``["ticket", <ticket>]`` pair; None: not a ticket."""
    subprotocols = list(scope.get("subprotocols") or [])
    if TICKET_SUBPROTOCOL not in subprotocols:
        return None
    index = subprotocols.index(TICKET_SUBPROTOCOL)
    return subprotocols[index + 1].strip() if index + 1 < len(subprotocols) else ""


def origin_from_scope(scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"origin":
            return value.decode("latin-1")
    return ""


async def aidentity_from_ticket(
    ticket: str, origin: str
) -> tuple[Identity, str] | None:
    """Redeem a portal ticket (once) into the identity of its session's user and
    that session's socket tag (`accounts.services.ws_session_tag`)."""
    holder = await sync_to_async(ws_ticket_redeem, thread_sensitive=False)(
        ticket=ticket, origin=origin
    )
    if holder is None:
        return None
    identity = Identity(holder.user_id, holder.email, holder.is_staff)
    return identity, holder.session_tag or None


class TokenAuthMiddleware(BaseMiddleware):
    """Put the caller's `Identity` in `scope["identity"]`, or close with 4401.

    Consumers behind it can rely on `scope["identity"]`; they accept with
    `scope["auth_subprotocol"]` so the ``bearer`` subprotocol is echoed.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        ticket = ticket_from_scope(scope)
        token, subprotocol = credentials_from_scope(scope)
        identity, expires_at, session = None, None, None
        if ticket is not None:
            subprotocol = TICKET_SUBPROTOCOL
            redeemed = await aidentity_from_ticket(ticket, origin_from_scope(scope))
            if redeemed is not None:
                identity, session = redeemed
        elif token:
            identity = await aidentity_from_bearer(token)
            if identity is not None and identity.api_key_id is None:  # a JWT
                expires_at = _jwt_expiry(token)
        if identity is None:
            return await self._reject(receive, send, subprotocol)
        scope = {
            **scope,
            "identity": identity,
            "auth_subprotocol": subprotocol,
            "auth_expires_at": expires_at,
            "auth_session": session,  # tag of the portal session, None: not one
        }
        return await super().__call__(scope, receive, send)

    async def _reject(self, receive, send, subprotocol: str | None) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        logger.info("WebSocket refused: unauthenticated")
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        await send(
            {
                "type": "websocket.close",
                "code": CLOSE_UNAUTHENTICATED,
                "reason": "unauthenticated",
            }
        )


def _jwt_expiry(token: str) -> float | None:
    try:
        return float(AccessToken(token)["exp"])
    except (TokenError, KeyError, TypeError, ValueError):
        return None


class CloseOnExpiryMixin:
    """For consumers: close with 4401 when the JWT the socket opened with expires,
    or when its credential or account is revoked while it is open.

    Call `arm_auth_expiry()` after accepting and `disarm_auth_expiry()` in
    `disconnect`; override `before_expiry_close` to stop work first. A timer, not a
    task, so idle sockets stay small. Before `connect` every socket joins its
    user's group (`realtime.auth_user_group`) and, opened with an API key, that
    key's group (`realtime.api_key_group`); the consumer's `groups` handling leaves
    them on disconnect. `realtime.sockets_close_for_user` / `_for_api_key` send
    `auth.revoked` to those groups after commit, across processes.
    """

    async def websocket_connect(self, message) -> None:
        from flowmatik import realtime

        identity = self.scope.get("identity")
        if identity is not None:
            groups = [realtime.auth_user_group(identity.user_id)]
            if identity.api_key_id is not None:
                groups.append(realtime.api_key_group(identity.api_key_id))
            self.groups = [*getattr(self, "groups", []), *groups]
        await super().websocket_connect(message)

    async def websocket_disconnect(self, message) -> None:
        """Leave the groups, then `disconnect` (which stops the socket's work and
        uncounts it) whatever the layer does: Channels' own handler leaves them
        first and a failure there (its pool busy as hundreds of sockets close,
        Redis gone) skipped `disconnect`. A membership not left expires with the
        layer's `group_expiry`."""
        groups, self.groups = list(getattr(self, "groups", None) or []), []
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                logger.warning("Socket group not left: %s", group, exc_info=True)
        await super().websocket_disconnect(message)

    def _revocation_applies(self, event) -> bool:
        identity = self.scope.get("identity")
        session = self.scope.get("auth_session")
        if event.get("keep_api_keys") and identity and identity.api_key_id:
            return False
        if "session" in event and event["session"] != session:
            return False
        return not (
            "keep_session" in event
            and session is not None
            and event["keep_session"] == session
        )

    async def auth_revoked(self, event) -> None:
        """Channel-layer message: this socket's API key or account was revoked
        (deactivated, password changed, logged out, admin role removed)."""
        if self.auth_expired or not self._revocation_applies(event):
            return
        reason = str(event.get("reason") or "api key revoked")
        logger.info("WebSocket closed: credentials revoked", extra={"reason": reason})
        self.auth_expired = True
        self.disarm_auth_expiry()
        await self.before_expiry_close()
        await self.close(code=CLOSE_UNAUTHENTICATED, reason=reason)

    _expiry_timer: asyncio.TimerHandle | None = None
    _expiry_task: asyncio.Task | None = None
    auth_expired = False  # once set, the consumer accepts no new work

    def arm_auth_expiry(self) -> None:
        expires_at = self.scope.get("auth_expires_at")
        if expires_at is None:
            return
        self._expiry_timer = asyncio.get_running_loop().call_later(
            max(0.0, expires_at - time.time()), self._auth_expired
        )

    def disarm_auth_expiry(self) -> None:
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None

    def _auth_expired(self) -> None:
        self._expiry_timer = None
        self._expiry_task = asyncio.ensure_future(self._close_expired())

    async def before_expiry_close(self) -> None:
        """Hook: stop running work before the socket closes."""

    async def _close_expired(self) -> None:
        logger.info("WebSocket closed: token expired")
        self.auth_expired = True
        await self.before_expiry_close()
        await self.close(code=CLOSE_UNAUTHENTICATED, reason="token expired")
