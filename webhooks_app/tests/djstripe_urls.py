"""URLs mounting dj-stripe's webhook view (for a system check test)."""

from django.urls import include, path

urlpatterns = [path("stripe/", include("djstripe.urls", namespace="djstripe"))]
