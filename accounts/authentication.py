"""Request authentication: JWT access tokens and personal API keys, through the one
check of each (`accounts.identity.credential_check` / `aidentify`).

DRF views use the authentication classes; the plain async views (the AI calls) use
`aauthenticate`. Both bind the caller's id to the log context; DRF leaves the
`Identity` in `request.auth`. Order in settings: API keys first (they claim
`X-API-Key` and `Bearer fmk_...`), then JWT, then the portal's session.
"""

from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.credentials import CredentialKind, credentials_from_headers
from accounts.identity import Identity, Refusal, aidentify, credential_check
from accounts.models import User
from flowmatik.errors import NotAuthenticated
from flowmatik.request_context import bind_user


async def aauthenticate(request: HttpRequest) -> Identity:
    """The caller's identity from a JWT or an API key (cached; usually no query).

    For async views outside DRF; raises `NotAuthenticated` (401) without one.
    """
    kind, token = credentials_from_headers(request.headers)
    identity = await aidentify(kind, token) if kind else None
    if identity is None:
        raise NotAuthenticated()
    bind_user(identity.user_id)
    return identity


class _BearerAuthentication(authentication.BaseAuthentication):
    """Authenticates the requests whose credential is of `kind`; others pass."""

    kind: CredentialKind
    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[User, Identity] | None:
        kind, token = credentials_from_headers(request.headers)
        if kind != self.kind:
            return None
        result = credential_check(kind, token)
        if isinstance(result, Refusal):
            raise exceptions.AuthenticationFailed(result.message, code=result.reason)
        # The identity is cached; the view needs the user row itself.
        user = User.objects.filter(pk=result.user_id, is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed(
                "User is inactive or does not exist.", code="user_inactive"
            )
        bind_user(user.pk)
        return user, result

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


class JwtAuthentication(_BearerAuthentication):
    """`Authorization: Bearer <access token>` (`POST /api/auth/login`)."""

    kind = "jwt"


class ApiKeyAuthentication(_BearerAuthentication):
    """`Authorization: Bearer fmk_...` or `X-API-Key: fmk_...`; `request.auth` has
    the key's id (`api_key_id`)."""

    kind = "api_key"


class BoundSessionAuthentication(authentication.SessionAuthentication):
    """The portal's Django session (CSRF enforced), with the user bound to logs."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is not None:
            bind_user(result[0].pk)
        return result
