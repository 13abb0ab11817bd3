"""Account writes: registration, log-in, profile, deactivation."""

import logging
from functools import partial
from typing import Any

from django.contrib.auth import authenticate, user_logged_in
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from accounts.credentials import identity_cache_invalidate
from accounts.errors import (
    AccountLocked,
    EmailTaken,
    InvalidCredentials,
)
from accounts.models import User
from accounts.services._common import (
    invalidate_identity,
    normalize_email,
    now_and_after_commit,
    validate_new_password,
)
from accounts.tokens import (
    TokenPair,
    access_token_revoke,
    refresh_tokens_revoke_all,
    token_pair_issue,
    token_revoke,
)
from ai.context import profile_context_invalidate
from flowmatik import realtime
from flowmatik.errors import InvalidInput

logger = logging.getLogger("flowmatik.accounts")

PROFILE_FIELDS = (
    "name",
    "company",
    "timezone",
    "language",
    "avatar_url",
    "brand_voice",
    "bio",
)


# --- Registration and log-in ---


def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create an active account; the password must pass Django's validators."""
    email = normalize_email(email)
    validate_new_password(password, user=User(email=email, name=name), field="password")
    if User.objects.filter(email=email).exists():
        raise EmailTaken()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as exc:  # lost a race with the same e-mail
        raise EmailTaken() from exc
    except ValidationError as exc:
        raise InvalidInput(details={"fields": exc.message_dict}) from exc
    logger.info("User registered", extra={"userId": str(user.pk)})
    return user


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User:
    """Check credentials through Django's backends (django-axes first).

    Unknown e-mail, wrong password and inactive account give one error; an e-mail +
    IP pair over the failure limit gets `AccountLocked` until the cool-off ends.
    """
    email = normalize_email(email)
    user = authenticate(request, username=email, password=password)
    if getattr(request, "axes_locked_out", False):
        retry_after = lockout_retry_after(request=request)
        raise AccountLocked(
            details={"retry_after": int(retry_after)}, retry_after=retry_after
        )
    if user is None:
        raise InvalidCredentials()
    return user


def lockout_retry_after(*, request: HttpRequest | None = None) -> float:
    """Seconds until a lockout ends: every failure during it restarts the cool-off."""
    from axes.helpers import get_cool_off

    cool_off = get_cool_off(request)
    return cool_off.total_seconds() if cool_off else 3600.0


def user_token_login(
    *, request: HttpRequest, email: str, password: str
) -> tuple[User, TokenPair]:
    """API log-in: credentials -> a JWT pair (axes failures reset on success)."""
    user = user_authenticate(request=request, email=email, password=password)
    # Same signal a session log-in sends: updates last_login, resets axes failures.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    return user, token_pair_issue(user=user)


def user_logout(*, refresh: str, access: str | None = None) -> None:
    """API log-out: blacklist the refresh token, and deny `access` at once if given.

    The refresh token is checked first (401 if it is not a live one), so a bad
    request revokes nothing. Without `access`, that token lives until its expiry.
    """
    token_revoke(refresh=refresh)
    if access:
        access_token_revoke(access=access)


def user_session_logged_out(*, user_id: int, session_tag: str) -> None:
    """A portal session logged out: the sockets opened with its tickets close
    (4401 ``logged out``); the user's other sessions and tokens keep theirs."""
    realtime.sockets_close_for_user(
        user_id=user_id, reason=realtime.REASON_LOGGED_OUT, session_tag=session_tag
    )


# --- Profile ---


def user_profile_update(*, user: User, data: dict[str, Any]) -> User:
    """Update the given profile fields (others untouched)."""
    changed = [field for field in PROFILE_FIELDS if field in data]
    for field in changed:
        setattr(user, field, data[field])
    if changed:
        try:
            user.full_clean(exclude=["password", "email"], validate_unique=False)
        except ValidationError as exc:
            raise InvalidInput(details={"fields": exc.message_dict}) from exc
        user.save(update_fields=[*changed, "updated_at"])
        now_and_after_commit(partial(_profile_caches_invalidate, user_id=user.pk))
    return user


def _profile_caches_invalidate(*, user_id: int) -> None:
    """The cached identity and the profile note the AI prompts carry (brand voice,
    bio): the next request and the next prompt see the new profile at once."""
    identity_cache_invalidate(user_id=user_id)
    profile_context_invalidate(user_id=user_id)


# --- Deactivation ---


def user_deactivate(*, user: User) -> None:
    """Deactivate: log-ins, tokens and API keys stop working at once."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        refresh_tokens_revoke_all(user=user)
        invalidate_identity(user, with_keys=True)
        # Sockets already open close too (4401), whatever they opened with.
        realtime.sockets_close_for_user(
            user_id=user.pk, reason=realtime.REASON_DEACTIVATED
        )
    logger.info("User deactivated", extra={"userId": str(user.pk)})


def user_reactivate(*, user: User) -> None:
    """Let a deactivated user log in again (old tokens and keys stay revoked)."""
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active", "updated_at"])
        invalidate_identity(user)
        logger.info("User reactivated", extra={"userId": str(user.pk)})


def user_admin_saved(*, user: User, changed: set[str]) -> None:
    """A staff member saved `user` in the Django admin (its form already wrote
    `changed`): what the services that change those fields do after the write —
    deactivation signs out everywhere, a role change drops cached identities (and
    losing staff closes the sockets), a profile change reaches the AI prompts."""
    if "is_active" in changed and not user.is_active:
        user_deactivate(user=user)
        return
    if changed & {"is_active", "is_staff", "is_superuser", "email"}:
        invalidate_identity(user)
    if "is_staff" in changed and not user.is_staff:
        realtime.sockets_close_for_user(
            user_id=user.pk, reason=realtime.REASON_ROLE_CHANGED
        )
    if changed & set(PROFILE_FIELDS):
        now_and_after_commit(partial(_profile_caches_invalidate, user_id=user.pk))


def user_staff_set(*, user: User, is_staff: bool) -> None:
    """Grant or remove the `admin` role (staff); cached identities drop at once,
    and removing it closes the user's open sockets (their identity carried it)."""
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff", "updated_at"])
        invalidate_identity(user)
        if not is_staff:
            realtime.sockets_close_for_user(
                user_id=user.pk, reason=realtime.REASON_ROLE_CHANGED
            )
        logger.info(
            "User staff role changed",
            extra={"userId": str(user.pk), "isStaff": is_staff},
        )
