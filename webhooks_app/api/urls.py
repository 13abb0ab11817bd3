"""URL routes of the webhooks_app API (mounted at /api/webhooks/).

dj-stripe's own webhook view (`djstripe.urls`) is deliberately not mounted anywhere:
in DEBUG it lets an `X-Djstripe-Webhook-Secret` header override the endpoint secret.
"""

from django.urls import path

from webhooks_app.api import views

urlpatterns = [
    path("stripe", views.StripeWebhookView.as_view(), name="webhooks-stripe"),
    path(
        "lemonsqueezy",
        views.LemonSqueezyWebhookView.as_view(),
        name="webhooks-lemonsqueezy",
    ),
    path("stats", views.WebhookStatsView.as_view(), name="webhooks-stats"),
    path("retry", views.WebhookRetryView.as_view(), name="webhooks-retry"),
]
