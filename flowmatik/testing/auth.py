"""Credentials for tests, made by the platform's own code: JWTs and API keys."""

from datetime import timedelta


def jwt_for(user, *, lifetime: timedelta | None = None) -> str:
    """An access token for `user` (optionally with a shorter `lifetime`)."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def api_key_for(user, *, plan: str = "starter", **fields) -> str:
    """An API key made by accounts' own service, for a user on a plan with API.

    `fields` overwrite columns of the stored key (e.g. `expires_at`).
    """
    from accounts.credentials import api_key_hash
    from accounts.models import ApiKey
    from accounts.services import api_key_create
    from billing.tests.factories import subscription_row

    if not user.subscriptions.exists():
        subscription_row(user=user, plan=plan)
    raw = api_key_create(user=user, name="test").raw_key
    if fields:
        ApiKey.objects.filter(hashed_key=api_key_hash(raw)).update(**fields)
    return raw
