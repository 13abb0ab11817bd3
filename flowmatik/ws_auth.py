"""WebSocket authentication: the API's credentials (JWT access token or API key).

A client passes its token in one of two ways:

1. **Subprotocol pair (preferred)**: ``new WebSocket(url, ["bearer", token])``, i.e.
   the header ``Sec-WebSocket-Protocol: bearer, <token>``. The server accepts with
   the ``bearer`` subprotocol (never echoing the token). Tokens stay out of URLs and
   therefore out of proxy and access logs.
2. **Query parameter**: ``wss://host/ws/notifications/?token=<token>``, for clients
   that cannot set subprotocols. The token may end up in access logs.

The token is either a JWT access token (``POST /api/auth/login``) or an API key
(``fmk_...``), resolved by `accounts.identity.aidentify` exactly as the HTTP API does.
Authentication happens once, at connect time.

Close codes (sent after the handshake completes, so browsers can read them; a close
before the handshake reaches a browser only as 1006):

- ``4401`` unauthenticated: no token, an invalid or expired JWT, a revoked or
  expired API key, or an inactive user. Reconnect with a fresh token.

A connection from an origin that is not in ``ALLOWED_HOSTS`` is refused before the
handshake (HTTP 403) by Channels' ``AllowedHostsOriginValidator`` in `asgi.py`.
"""

import logging
from urllib.parse import parse_qs

from channels.middleware import BaseMiddleware

from accounts.identity import API_KEY_PREFIX, aidentify

logger = logging.getLogger("flowmatik.realtime")

BEARER_SUBPROTOCOL = "bearer"
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


class TokenAuthMiddleware(BaseMiddleware):
    """Put the caller's `Identity` in `scope["identity"]`, or close with 4401.

    Consumers behind it can rely on `scope["identity"]`; they accept with
    `scope["auth_subprotocol"]` so the ``bearer`` subprotocol is echoed.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        token, subprotocol = credentials_from_scope(scope)
        identity = None
        if token:
            kind = "api_key" if token.startswith(API_KEY_PREFIX) else "jwt"
            identity = await aidentify(kind, token)
        if identity is None:
            return await self._reject(receive, send, subprotocol)
        scope = {**scope, "identity": identity, "auth_subprotocol": subprotocol}
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
