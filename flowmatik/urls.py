"""Top-level URL routing: health, admin, the API of each app, OpenAPI, the portal."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from flowmatik.health import health_view
from flowmatik.metrics.prometheus import metrics_view

urlpatterns = [
    path("health", health_view, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        # Split: the init script is a separate same-origin request, not inline.
        SpectacularSwaggerSplitView.as_view(url_name="schema"),
        name="docs",
    ),
    path("api/auth/", include("accounts.api.urls")),
    path("api/ai/", include("usage.api.urls")),
    path("api/ai/", include("ai.api.urls")),
    path("v1/", include("ai.api.openai_urls")),
    path("api/payments/", include("billing.api.urls")),
    path("api/webhooks/", include("webhooks_app.api.urls")),
    path("api/admin/", include("dashboard.api.admin_urls")),
    path("api/notifications", include("notifications.api.urls")),
    # The portal: the app's pages live under /app/ (each app's urls.py)
    path("app/", RedirectView.as_view(url="/app/chat/"), name="app"),
    path("app/notifications/", include("notifications.urls")),
    path("", include("accounts.urls")),
    path("billing/", include("billing.urls")),
    path("app/usage/", include("usage.urls")),
    path("app/", include("ai.urls")),
    path("", include("dashboard.urls")),
]
