"""DRF authentication: JWT access tokens and personal API keys.

Both bind the caller's id to the log context. Order in settings: API keys first (they
claim `X-API-Key` and `Bearer fmk_...`), then JWT, then the portal's session.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts.identity import (
    API_KEY_PREFIX,
    Identity,
    credentials_from_headers,
    identity_from_api_key,
)
from accounts.models import User
from accounts.tokens import access_token_is_revoked
from flowmatik.request_context import bind_user


class JwtAuthentication(JWTAuthentication):
    """simplejwt access-token check (active user, same password) + log binding."""

    def authenticate(self, request: Request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None or raw.decode(errors="replace").startswith(API_KEY_PREFIX):
            return None  # an API key: ApiKeyAuthentication's business
        result = super().authenticate(request)
        if result is not None:
            if access_token_is_revoked(jti=str(result[1].get("jti", ""))):
                raise exceptions.AuthenticationFailed(
                    _("The token was revoked by a log-out."), code="token_revoked"
                )
            bind_user(result[0].pk)
        return result


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fmk_...` or `X-API-Key: fmk_...`; `request.auth` is the
    `Identity` (with `api_key_id`)."""

    www_authenticate_realm = "api"

    def authenticate(self, request: Request) -> tuple[User, Identity] | None:
        kind, token = credentials_from_headers(request.headers)
        if kind != "api_key":
            return None
        identity = identity_from_api_key(token)
        if identity is None:
            raise exceptions.AuthenticationFailed(
                _("Invalid, revoked or expired API key."), code="invalid_api_key"
            )
        user = User.objects.filter(pk=identity.user_id, is_active=True).first()
        if user is None:
            raise exceptions.AuthenticationFailed(
                _("Invalid, revoked or expired API key."), code="invalid_api_key"
            )
        bind_user(user.pk)
        return user, identity

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'


class BoundSessionAuthentication(authentication.SessionAuthentication):
    """The portal's Django session (CSRF enforced), with the user bound to logs."""

    def authenticate(self, request: Request):
        result = super().authenticate(request)
        if result is not None:
            bind_user(result[0].pk)
        return result
