"""Celery entry points of the usage app (thin; the services are idempotent)."""

from celery import shared_task

from usage import services


@shared_task(name="usage.drain_events", ignore_result=True)
def usage_events_drain() -> int:
    """Beat: move buffered usage events and alerts from Redis into the database."""
    return services.usage_events_drain()


@shared_task(name="usage.sweep_reservations", ignore_result=True)
def usage_reservations_sweep() -> int:
    """Beat: free token reservations whose call died without settling."""
    return services.usage_reservations_sweep()


@shared_task(
    name="usage.quota_exceeded_email",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def usage_quota_exceeded_email(alert_id: int) -> bool:
    """E-mail the user that a daily limit is used up (once per alert)."""
    return services.quota_alert_email_send(alert_id=alert_id)
