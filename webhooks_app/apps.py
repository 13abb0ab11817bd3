"""App configuration for `webhooks_app`."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks_app"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from webhooks_app import checks  # noqa: F401 (registers the system checks)
