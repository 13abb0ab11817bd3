"""App configuration for `usage`."""

from typing import Any

from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from celery.signals import task_postrun

        task_postrun.connect(_flush_usage_records, weak=False)


def _flush_usage_records(**_: Any) -> None:
    """A Celery task that settled AI calls leaves their records stored when it
    ends, not one flush interval later (`usage.record_writer`)."""
    from usage.record_writer import records_flush

    records_flush()
