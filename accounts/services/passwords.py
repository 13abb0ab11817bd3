"""Password writes: change, reset request, reset e-mails, reset confirmation."""

import logging

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from accounts.errors import InvalidResetLink, WrongPassword
from accounts.models import User
from accounts.services._common import (
    invalidate_identity,
    normalize_email,
    validate_new_password,
)
from accounts.tokens import TokenPair, refresh_tokens_revoke_all, token_pair_issue
from flowmatik import realtime

logger = logging.getLogger("flowmatik.accounts")


def user_password_change(
    *,
    user: User,
    current_password: str,
    new_password: str,
    session_tag: str | None = None,
) -> TokenPair:
    """Change the password; every refresh token issued before is revoked.

    Returns a fresh pair for the caller's session; all others must log in again
    (their access tokens stop working at once: they carry the old password's
    fingerprint). Open sockets close (4401 ``password changed``) except those
    opened with an API key and those of the portal session (`session_tag`,
    `ws_session_tag`) that made the change.
    """
    if not user.check_password(current_password):
        raise WrongPassword(
            details={"fields": {"current_password": [_("The password is incorrect.")]}}
        )
    validate_new_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        revoked = refresh_tokens_revoke_all(user=user)
        pair = token_pair_issue(user=user)
        invalidate_identity(user)
        realtime.sockets_close_for_user(
            user_id=user.pk,
            reason=realtime.REASON_PASSWORD_CHANGED,
            keep_session_tag=session_tag,
            keep_api_keys=True,
        )
    logger.info(
        "Password changed", extra={"userId": str(user.pk), "revokedTokens": revoked}
    )
    return pair


def password_reset_request(*, email: str) -> None:
    """Queue the reset e-mail. Does the same work whether the account exists or not:
    the lookup happens in the Celery task, so the response time tells nothing."""
    from accounts.tasks import password_reset_email_task

    password_reset_email_task.delay_on_commit(email=normalize_email(email))


def password_reset_link(*, user: User) -> str:
    """The portal's reset page for `user`, on FRONTEND_URL (never the Host header)."""
    path = reverse(
        "accounts:password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    frontend: str = settings.FRONTEND_URL
    return frontend.rstrip("/") + path


def password_reset_email_send(*, email: str, dedupe_key: str = "") -> bool:
    """Send the reset e-mail if `email` belongs to an active account with a password.

    `dedupe_key` (the task id) makes a redelivered task send nothing twice.
    """
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
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
        with translation.override(user.language):  # the account's language
            subject = _("Reset your Flowmatik password")
            message = _(
                "Someone asked to reset the password of your Flowmatik account.\n\n"
                "Choose a new password here (the link works once, for %(minutes)d "
                "minutes):\n%(link)s\n\n"
                "If it was not you, ignore this e-mail: your password is unchanged."
            ) % {"minutes": minutes, "link": password_reset_link(user=user)}
        send_mail(
            subject=subject,
            message=message,
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
    limit: int = settings.PASSWORD_RESET_EMAILS_PER_HOUR
    if limit <= 0:
        return True
    hour = int(timezone.now().timestamp()) // 3600
    key = f"accounts:reset-mail-count:{user.pk}:{hour}"
    cache.add(key, 0, 7200)
    try:
        count: int = cache.incr(key)
        return count <= limit
    except ValueError:  # expired between add and incr: count this one
        cache.set(key, 1, 7200)
        return True


def password_changed_email_send(*, user_id: int) -> bool:
    """Tell the owner their password was reset (OWASP: notify after a reset)."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    link = f"{settings.FRONTEND_URL.rstrip('/')}{reverse('accounts:password_forgot')}"
    with translation.override(user.language):  # the account's language
        subject = _("Your Flowmatik password was changed")
        message = _(
            "The password of your Flowmatik account was just reset and every "
            "session was signed out.\nIf it was not you, reset it again at once: "
            "%(link)s"
        ) % {"link": link}
    send_mail(
        subject=subject,
        message=message,
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
    validate_new_password(new_password, user=user, field="new_password")
    with transaction.atomic():
        # Lock the row so two uses of one link cannot both pass the check.
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not default_token_generator.check_token(locked, token):
            raise InvalidResetLink()
        locked.set_password(new_password)
        locked.save(update_fields=["password", "updated_at"])
        revoked = refresh_tokens_revoke_all(user=locked)
        invalidate_identity(locked)
        realtime.sockets_close_for_user(
            user_id=locked.pk,
            reason=realtime.REASON_PASSWORD_CHANGED,
            keep_api_keys=True,
        )
        password_changed_email_task.delay_on_commit(user_id=locked.pk)
    axes_reset(username=locked.email)  # a locked-out owner may log in again
    logger.info(
        "Password reset", extra={"userId": str(locked.pk), "revokedTokens": revoked}
    )
    return locked


def password_set_by_staff(*, user: User) -> None:
    """Staff set `user`'s password in the Django admin (its form saved it): the
    same consequences as a reset — refresh tokens revoked, cached identities
    dropped, open sockets closed (4401 ``password changed``) except those opened
    with an API key, and a lock-out lifted."""
    with transaction.atomic():
        refresh_tokens_revoke_all(user=user)
        invalidate_identity(user)
        realtime.sockets_close_for_user(
            user_id=user.pk,
            reason=realtime.REASON_PASSWORD_CHANGED,
            keep_api_keys=True,
        )
    from axes.utils import reset as axes_reset

    axes_reset(username=user.email)
    logger.info("Password set by staff", extra={"userId": str(user.pk)})
