"""JWT life cycle: issue a pair, rotate a refresh token exactly once, revoke.

Writes to simplejwt's outstanding/blacklist tables live here. Rotation closes the race
stock simplejwt leaves open (two concurrent refreshes of one token both succeeding):
the old token is blacklisted by an INSERT on `BlacklistedToken`'s one-to-one column
inside the transaction that mints the new pair, so the database admits exactly one.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.credentials import access_denied_cache_key, password_fingerprint
from accounts.errors import InvalidToken
from accounts.models import User

logger = logging.getLogger("flowmatik.accounts")


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    access_expires_in: int  # seconds


def token_pair_issue(*, user: User) -> TokenPair:
    """A new access + refresh pair; the refresh token is recorded as outstanding."""
    refresh = RefreshToken.for_user(user)
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    return TokenPair(
        access=str(refresh.access_token),
        refresh=str(refresh),
        access_expires_in=int(lifetime.total_seconds()),
    )


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)
    except TokenError as exc:
        raise InvalidToken() from exc


def _outstanding_for(token: RefreshToken, user: User | None) -> OutstandingToken:
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[settings.SIMPLE_JWT.get("JTI_CLAIM", "jti")],
        defaults={
            "user": user,
            "created_at": token.current_time,
            "token": str(token),
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    return outstanding


def _user_for(token: RefreshToken) -> User:
    user_id = token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        raise InvalidToken()
    claim = settings.SIMPLE_JWT.get("REVOKE_TOKEN_CLAIM", "hash_password")
    if settings.SIMPLE_JWT.get("CHECK_REVOKE_TOKEN") and token.get(
        claim
    ) != password_fingerprint(user.password):
        raise InvalidToken("The password has changed since this token was issued.")
    return user


def token_refresh(*, refresh: str) -> TokenPair:
    """Rotate: the given refresh token is spent (blacklisted) and a new pair minted.

    Of two concurrent calls with one token exactly one succeeds; the other gets
    `InvalidToken` (its INSERT into the blacklist hits the unique key).
    """
    token = _parse_refresh(refresh)
    user = _user_for(token)
    try:
        with transaction.atomic():
            outstanding = _outstanding_for(token, user)
            BlacklistedToken.objects.create(token=outstanding)
            pair = token_pair_issue(user=user)
    except IntegrityError as exc:
        logger.warning(
            "Refresh token reused", extra={"userId": str(user.pk), "event": "reuse"}
        )
        raise InvalidToken() from exc
    return pair


def token_revoke(*, refresh: str) -> None:
    """Log out: blacklist the given refresh token (401 if it is not a live one)."""
    token = _parse_refresh(refresh)
    user_id = token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    user = User.objects.filter(pk=user_id).first() if user_id else None
    with transaction.atomic():
        outstanding = _outstanding_for(token, user)
        BlacklistedToken.objects.get_or_create(token=outstanding)


def access_token_revoke(*, access: str) -> bool:
    """Deny a still-valid access token until it expires (logout).

    simplejwt never checks access tokens against the blacklist; the denylist lives
    in the cache only as long as the token could still be used.
    """
    try:
        token = AccessToken(access)
    except TokenError:
        return False
    leeway = int(settings.SIMPLE_JWT.get("LEEWAY", 0) or 0)
    ttl = int(token["exp"] - timezone.now().timestamp()) + leeway + 1
    cache.set(access_denied_cache_key(str(token["jti"])), 1, max(1, ttl))
    return True


def refresh_tokens_revoke_all(*, user: User) -> int:
    """Blacklist every live refresh token of `user`; returns how many."""
    live = list(
        OutstandingToken.objects.filter(
            user=user,
            expires_at__gt=timezone.now(),
            blacklistedtoken__isnull=True,
        ).values_list("pk", flat=True)
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in live], ignore_conflicts=True
    )
    return len(live)


def tokens_flush_expired() -> int:
    """Delete expired refresh-token records (and their blacklist rows) and failed
    log-in records past the cool-off: both tables otherwise only grow."""
    from axes.helpers import get_cool_off
    from axes.models import AccessAttempt

    now = timezone.now()
    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=now).delete()
    cool_off = get_cool_off()
    if cool_off is not None:
        AccessAttempt.objects.filter(attempt_time__lt=now - cool_off).delete()
    return deleted
