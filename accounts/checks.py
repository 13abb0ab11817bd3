"""Startup checks: refresh rotation must really blacklist the spent tokens.

simplejwt swallows the `AttributeError` raised when rotation + blacklisting are on
but the blacklist app is missing, so old refresh tokens would silently stay valid
(simplejwt #985). `manage.py check` reports it, and `AccountsConfig.ready` refuses to
start (ASGI servers and workers do not run system checks).
"""

from django.conf import settings
from django.core.checks import Error

BLACKLIST_APP = "rest_framework_simplejwt.token_blacklist"


def jwt_rotation_errors(**kwargs) -> list[Error]:
    jwt = getattr(settings, "SIMPLE_JWT", {})
    if not jwt.get("ROTATE_REFRESH_TOKENS"):
        return []
    errors = []
    if BLACKLIST_APP not in settings.INSTALLED_APPS:
        errors.append(
            Error(
                "ROTATE_REFRESH_TOKENS is on but the token blacklist app is not "
                "installed: rotated refresh tokens would stay valid.",
                hint=f"Add {BLACKLIST_APP!r} to INSTALLED_APPS.",
                id="accounts.E001",
            )
        )
    if not jwt.get("BLACKLIST_AFTER_ROTATION"):
        errors.append(
            Error(
                "ROTATE_REFRESH_TOKENS is on without BLACKLIST_AFTER_ROTATION: a "
                "refresh token could be used again after rotation.",
                hint="Set SIMPLE_JWT['BLACKLIST_AFTER_ROTATION'] = True.",
                id="accounts.E002",
            )
        )
    return errors
