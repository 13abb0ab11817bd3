"""App configuration for `accounts`."""

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.core import checks

        from accounts import schema  # noqa: F401 (registers the OpenAPI schemes)
        from accounts.checks import jwt_rotation_errors

        checks.register(jwt_rotation_errors, checks.Tags.security)
        errors = jwt_rotation_errors()
        if errors:  # fail loudly at any start, not only under `manage.py check`
            raise ImproperlyConfigured("; ".join(f"{e.id}: {e.msg}" for e in errors))
