"""Who calls the MCP server: the one API-key check of the identity core.

`ApiKeyVerifier` admits only live API keys (the SDK answers 401 with
`WWW-Authenticate` before any MCP traffic otherwise); `mcp_caller()` reads the
admitted identity back inside a tool, resource or prompt.
"""

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken, TokenVerifier

from accounts.identity import Identity, acredential_check
from flowmatik.errors import NotAuthenticated
from flowmatik.request_context import bind_user

_KEY_CLIENT = "api_key:"


class ApiKeyVerifier(TokenVerifier):
    """A bearer token is admitted when it is a live `fmk_...` API key."""

    async def verify_token(self, token: str) -> AccessToken | None:
        identity = await acredential_check("api_key", token)
        if not isinstance(identity, Identity):
            return None
        return AccessToken(
            token=token,
            client_id=f"{_KEY_CLIENT}{identity.api_key_id}",
            subject=str(identity.user_id),
            scopes=[],
            claims={"email": identity.email, "is_staff": identity.is_staff},
        )


def mcp_caller() -> Identity:
    """The identity of the request being served (NotAuthenticated outside one)."""
    access = get_access_token()
    if access is None or not access.subject:
        raise NotAuthenticated()
    claims = access.claims or {}
    identity = Identity(
        user_id=int(access.subject),
        email=str(claims.get("email", "")),
        is_staff=bool(claims.get("is_staff", False)),
        api_key_id=int(access.client_id.removeprefix(_KEY_CLIENT)),
    )
    bind_user(identity.user_id)
    return identity
