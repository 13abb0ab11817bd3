"""Celery entry points of the dashboard: e-mail a staff announcement."""

import smtplib

from celery import shared_task

from dashboard.services.announcements import announcement_email_deliver


@shared_task(
    name="dashboard.announcement_email_send",
    acks_late=True,
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def announcement_email_send(*, announcement_id: int) -> int:
    """E-mail one announcement to its audience, once (idempotent by claim)."""
    return announcement_email_deliver(announcement_id=announcement_id)
