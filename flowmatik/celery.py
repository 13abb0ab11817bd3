"""The Celery application, configured so that no task is lost.

Late acks + reject-on-worker-lost + prefetch 1 mean a task whose worker dies is
delivered again; tasks are therefore written to be idempotent (STYLE rule 7).
"""

import os

from celery import Celery
from celery.signals import beat_init, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flowmatik.settings.base")

app = Celery("flowmatik")


def _transport_options(settings) -> dict:
    options: dict = {"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT}
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # Embedded broker: queues are folders under var/celery, shared by web + worker.
        # The folders are made at startup (flowmatik.folders), not at import.
        folder = settings.CELERY_DATA_DIR / "queue"
        options.update(
            {
                "data_folder_in": str(folder),
                "data_folder_out": str(folder),
                "processed_folder": str(settings.CELERY_DATA_DIR / "processed"),
                "control_folder": str(settings.CELERY_DATA_DIR / "control"),
                "store_processed": False,
            }
        )
    else:
        # A message whose worker died unacked goes back to its queue after the
        # visibility timeout, at the next sweep of a live worker.
        interval = settings.CELERY_UNACKED_RESTORE_INTERVAL_SECONDS
        options.update(
            {"unacked_restore_interval": interval, "unacked_restore_throttle": 1}
        )
    return options


def configure(settings) -> None:
    """Apply Django settings to the Celery app (at import; tests may call again)."""
    options = _transport_options(settings)
    app.conf.update(
        broker_url=settings.CELERY_BROKER_URL,
        result_backend=settings.CELERY_RESULT_BACKEND or None,
        task_ignore_result=not settings.CELERY_RESULT_BACKEND,
        broker_transport_options=options,
        result_backend_transport_options={
            "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT
        },
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_time_limit=settings.CELERY_TASK_TIME_LIMIT,
        task_soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
        task_always_eager=settings.CELERY_TASK_ALWAYS_EAGER,
        result_expires=3600,
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        worker_soft_shutdown_timeout=10.0,
        beat_schedule=settings.CELERY_BEAT_SCHEDULE,
        beat_schedule_filename=str(settings.CELERY_DATA_DIR / "beat-schedule"),
        beat_scheduler="flowmatik.beat:HeartbeatScheduler",
    )


def _configure_from_django() -> None:
    from django.conf import settings

    configure(settings)


_configure_from_django()
app.autodiscover_tasks()

from flowmatik import task_context  # noqa: E402, F401 - connects the signal handlers


@worker_ready.connect
@worker_process_init.connect
def _report_worker_process(**kwargs) -> None:
    """Workers (each prefork child too) report CPU/memory to the shared metrics."""
    from flowmatik.metrics.system import process_reporter_start

    process_reporter_start("worker")


@beat_init.connect
def _report_beat_process(**kwargs) -> None:
    from flowmatik.metrics.system import process_reporter_start

    process_reporter_start("beat")
