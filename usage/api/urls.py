"""URL routes of the usage API (mounted under /api/ai/)."""

from django.urls import path

from usage.api.views import UsageReportView, UsageTodayView

urlpatterns = [
    path("usage", UsageReportView.as_view(), name="ai-usage"),
    path("usage/today", UsageTodayView.as_view(), name="ai-usage-today"),
]
