"""System checks: dj-stripe's `X-Djstripe-Webhook-Secret` override must be impossible.

dj-stripe lets that header replace the endpoint secret when `DEBUG` is on. We never
mount its webhook view (ours verifies signatures itself), and production must run
with `DEBUG = False`; both are checked at every `manage.py check` / start-up.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.urls import URLPattern, URLResolver, get_resolver


def _callbacks(patterns) -> list:
    found = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found.extend(_callbacks(pattern.url_patterns))
        elif isinstance(pattern, URLPattern):
            found.append(pattern.callback)
    return found


@register(Tags.security, deploy=False)
def djstripe_webhook_override_impossible(app_configs, **kwargs) -> list[Error]:
    errors = []
    if getattr(settings, "ENVIRONMENT", "") == "production" and settings.DEBUG:
        errors.append(
            Error(
                "DEBUG is on in production: dj-stripe would accept an "
                "X-Djstripe-Webhook-Secret header in place of the webhook secret.",
                hint="Set DEBUG=False (flowmatik.settings.production forces it).",
                id="webhooks_app.E001",
            )
        )
    for callback in _callbacks(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None)
        if view_class is not None and (
            view_class.__module__.startswith("djstripe")
            and "Webhook" in view_class.__name__
        ):
            errors.append(
                Error(
                    "dj-stripe's webhook view is mounted; Stripe webhooks must go "
                    "through /api/webhooks/stripe only.",
                    hint="Remove include('djstripe.urls') from the URL configuration.",
                    id="webhooks_app.E002",
                )
            )
            break
    return errors
