"""Celery entry points for accounts: the e-mails of the password life cycle."""

from smtplib import SMTPException

from celery import shared_task

from accounts import services, tokens

_RETRY = {
    "autoretry_for": (SMTPException, ConnectionError, TimeoutError),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(bind=True, name="accounts.password_reset_email", **_RETRY)
def password_reset_email_task(self, *, email: str) -> bool:
    """Send a reset link if `email` has an account (once per task id)."""
    return services.password_reset_email_send(email=email, dedupe_key=self.request.id)


@shared_task(name="accounts.password_changed_email", **_RETRY)
def password_changed_email_task(*, user_id: int) -> bool:
    return services.password_changed_email_send(user_id=user_id)


@shared_task(name="accounts.flush_expired_tokens")
def flush_expired_tokens_task() -> int:
    """Periodic (beat): drop expired refresh-token records and stale lockouts."""
    return tokens.tokens_flush_expired()
