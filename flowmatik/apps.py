"""App configuration of the project package: startup work (never at import)."""

from django.apps import AppConfig


class FlowmatikConfig(AppConfig):
    name = "flowmatik"
    verbose_name = "Flowmatik"

    def ready(self) -> None:
        from django.conf import settings

        from flowmatik.folders import local_folders_create

        local_folders_create(settings)
