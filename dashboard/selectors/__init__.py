"""Dashboard reads for staff: KPIs, users, operations (metrics, health, logs).

Each module assembles other apps' selectors; nothing here queries another app's
tables directly except through those selectors.
"""

from typing import Any

from django.db.models import QuerySet

from dashboard.models import Announcement
from flowmatik import realtime


def realtime_metrics() -> dict[str, Any]:
    """For the admin metrics: open sockets (this process, all processes) and pushes
    dropped because a client was too slow or failed because the layer was down."""
    return realtime.realtime_metrics()


def announcement_list() -> QuerySet[Announcement]:
    """Staff announcements, newest first."""
    return Announcement.objects.select_related("sent_by").order_by("-created_at", "-id")
