"""Account writes: register, log in, passwords, profile, deactivation, API keys."""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.errors import (
    AccountLocked,
    EmailTaken,
    InvalidCredentials,
    InvalidResetLink,
    PasswordRejected,
    PlanFeatureRequired,
    WrongPassword,
)
from accounts.identity import API_KEY_PREFIX, api_key_hash, identity_cache_invalidate
from accounts.models import ApiKey, User
from accounts.tokens import TokenPair, refresh_tokens_revoke_all, token_pair_issue
from billing import selectors as billing_selectors
from flowmatik.errors import InvalidInput

logger = logging.getLogger("flowmatik.accounts")

API_FEATURE = "api"
PROFILE_FIELDS = (
    "name",
    "company",
    "timezone",
    "language",
    "avatar_url",
    "brand_voice",
    "bio",
)


def _normalize(email: str) -> str:
    return User.objects.normalize_email(email)


def _validate_new_password(password: str, *, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise PasswordRejected(details={"fields": {field: list(exc.messages)}}) from exc


def _now_and_after_commit(invalidate: Callable[[], None]) -> None:
    """Drop cached identities at once and again after commit, so a reader racing
    the transaction cannot leave the old state cached."""
    invalidate()
    transaction.on_commit(invalidate)


def _invalidate_identity_after_commit(user: User, *, with_keys: bool = False) -> None:
    hashes = (
        list(user.api_keys.values_list("hashed_key", flat=True)) if with_keys else []
    )

    def invalidate() -> None:
        identity_cache_invalidate(user_id=user.pk)
        for hashed in hashes:
            identity_cache_invalidate(hashed_key=hashed)

    _now_and_after_commit(invalidate)


# --- Registration and log-in ---


def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create an active account; the password must pass Django's validators."""
    email = _normalize(email)
    _validate_new_password(
        password, user=User(email=email, name=name), field="password"
    )
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
    email = _normalize(email)
    user = authenticate(request, username=email, password=password)
    if getattr(request, "axes_locked_out", False):
        raise AccountLocked(retry_after=lockout_retry_after(request=request))
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
        _now_and_after_commit(lambda: identity_cache_invalidate(user_id=user.pk))
    return user


# --- Passwords ---


def user_password_change(
    *, user: User, current_password: str, new_password: str
) -> TokenPair:
    """Change the password; every refresh token issued before is revoked.

    Returns a fresh pair for the caller's session; all others must log in again
    (their access tokens stop working at once: they carry the old password's
    fingerprint).
    """
    if not user.check_password(current_password):
        raise WrongPassword(
            details={"fields": {"current_password": ["The password is incorrect."]}}
        )
    _validate_new_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        revoked = refresh_tokens_revoke_all(user=user)
        pair = token_pair_issue(user=user)
        _invalidate_identity_after_commit(user)
    logger.info(
        "Password changed", extra={"userId": str(user.pk), "revokedTokens": revoked}
    )
    return pair


def password_reset_request(*, email: str) -> None:
    """Queue the reset e-mail. Does the same work whether the account exists or not:
    the lookup happens in the Celery task, so the response time tells nothing."""
    from accounts.tasks import password_reset_email_task

    password_reset_email_task.delay_on_commit(email=_normalize(email))


def password_reset_link(*, user: User) -> str:
    """The portal's reset page for `user`, on FRONTEND_URL (never the Host header)."""
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return settings.FRONTEND_URL.rstrip("/") + path


def password_reset_email_send(*, email: str, dedupe_key: str = "") -> bool:
    """Send the reset e-mail if `email` belongs to an active account with a password.

    `dedupe_key` (the task id) makes a redelivered task send nothing twice.
    """
    user = User.objects.filter(email=_normalize(email), is_active=True).first()
    if user is None or not user.has_usable_password():
        return False
    sent_key = f"accounts:reset-mail:{dedupe_key}" if dedupe_key else ""
    if sent_key and not cache.add(sent_key, 1, settings.PASSWORD_RESET_TIMEOUT):
        return False
    if not _reset_mail_allowed(user):
        logger.warning("Reset e-mails throttled", extra={"userId": str(user.pk)})
        return False
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    try:
        send_mail(
            subject="Reset your Flowmatik password",
            message=(
                "Someone asked to reset the password of your Flowmatik account.\n\n"
                f"Choose a new password here (the link works once, for {minutes} "
                f"minutes):\n{password_reset_link(user=user)}\n\n"
                "If it was not you, ignore this e-mail: your password is unchanged."
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    except Exception:
        if sent_key:
            cache.delete(sent_key)
        raise
    logger.info("Password reset e-mail sent", extra={"userId": str(user.pk)})
    return True


def _reset_mail_allowed(user: User) -> bool:
    """Per-account cap on reset e-mails (no mail-bombing from many addresses)."""
    limit = settings.PASSWORD_RESET_EMAILS_PER_HOUR
    if limit <= 0:
        return True
    hour = int(timezone.now().timestamp()) // 3600
    key = f"accounts:reset-mail-count:{user.pk}:{hour}"
    cache.add(key, 0, 7200)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # expired between add and incr: count this one
        cache.set(key, 1, 7200)
        return True


def password_changed_email_send(*, user_id: int) -> bool:
    """Tell the owner their password was reset (OWASP: notify after a reset)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    send_mail(
        subject="Your Flowmatik password was changed",
        message=(
            "The password of your Flowmatik account was just reset and every "
            "session was signed out.\nIf it was not you, reset it again at once: "
            f"{settings.FRONTEND_URL.rstrip('/')}{reverse('accounts:password_forgot')}"
        ),
        from_email=None,
        recipient_list=[user.email],
    )
    return True


def _user_from_uid(uidb64: str) -> User | None:
    try:
        uid = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return User.objects.filter(pk=uid, is_active=True).first()


def password_reset_check(*, uidb64: str, token: str) -> User:
    """The user a reset link belongs to, if the link is still valid."""
    user = _user_from_uid(uidb64)
    if user is None or not default_token_generator.check_token(user, token):
        raise InvalidResetLink()
    return user


def password_reset_confirm(*, uidb64: str, token: str, new_password: str) -> User:
    """Set a new password from a reset link: single use (the token hashes the old
    password), expires after PASSWORD_RESET_TIMEOUT, revokes every refresh token."""
    from axes.utils import reset as axes_reset

    from accounts.tasks import password_changed_email_task

    user = password_reset_check(uidb64=uidb64, token=token)
    _validate_new_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        # Lock the row so two uses of one link cannot both pass the check.
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not default_token_generator.check_token(locked, token):
            raise InvalidResetLink()
        locked.set_password(new_password)
        locked.save(update_fields=["password", "updated_at"])
        revoked = refresh_tokens_revoke_all(user=locked)
        _invalidate_identity_after_commit(locked)
        password_changed_email_task.delay_on_commit(user_id=locked.pk)
    axes_reset(username=locked.email)  # a locked-out owner may log in again
    logger.info(
        "Password reset", extra={"userId": str(locked.pk), "revokedTokens": revoked}
    )
    return locked


# --- Deactivation ---


def user_deactivate(*, user: User) -> None:
    """Deactivate: log-ins, tokens and API keys stop working at once."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        refresh_tokens_revoke_all(user=user)
        _invalidate_identity_after_commit(user, with_keys=True)
    logger.info("User deactivated", extra={"userId": str(user.pk)})


# --- API keys ---


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the owner once, never stored


def api_key_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> CreatedApiKey:
    """A new key `fmk_<prefix>_<secret>` for a user whose plan has the API feature."""
    if not billing_selectors.user_has_feature(user=user, feature=API_FEATURE):
        raise PlanFeatureRequired(
            "Your plan does not include API access.", details={"feature": API_FEATURE}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput(
            details={"fields": {"expires_at": ["Must be in the future."]}}
        )
    for _attempt in range(3):
        prefix = secrets.token_hex(4)
        raw_key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    user=user,
                    name=name,
                    prefix=prefix,
                    hashed_key=api_key_hash(raw_key),
                    expires_at=expires_at,
                )
        except IntegrityError:  # prefix collision: 1 in 4 billion, draw again
            continue
        logger.info(
            "API key created", extra={"userId": str(user.pk), "apiKeyId": api_key.pk}
        )
        return CreatedApiKey(api_key=api_key, raw_key=raw_key)
    raise IntegrityError("Could not draw a unique API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key (idempotent); it stops authenticating at once."""
    if api_key.revoked_at is None:
        now = timezone.now()
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        api_key.revoked_at = now
        logger.info(
            "API key revoked",
            extra={"userId": str(api_key.user_id), "apiKeyId": api_key.pk},
        )
    hashed = api_key.hashed_key
    _now_and_after_commit(lambda: identity_cache_invalidate(hashed_key=hashed))
    return api_key


def api_key_mark_used(*, api_key_id: int) -> bool:
    """Record `last_used_at`, at most once per API_KEY_LAST_USED_INTERVAL_SECONDS.

    Time is cut into buckets of that length and the cache admits one writer per key
    and bucket (atomic `add`), so a busy key costs no write per request.
    """
    interval = max(1, settings.API_KEY_LAST_USED_INTERVAL_SECONDS)
    now = timezone.now()
    bucket = int(now.timestamp()) // interval
    if not cache.add(f"accounts:apikey-used:{api_key_id}:{bucket}", 1, interval * 2):
        return False
    ApiKey.objects.filter(pk=api_key_id).update(last_used_at=now)
    return True
