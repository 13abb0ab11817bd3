"""URL routes of the staff API (`/api/admin/...`)."""

from django.urls import path

from dashboard.api.admin_dashboard import AdminDashboardApi
from dashboard.api.admin_logs import AdminLogListApi
from dashboard.api.admin_notifications import AdminNotificationsApi
from dashboard.api.admin_operations import AdminHealthApi, AdminMetricsApi
from dashboard.api.admin_users import AdminUserDetailApi, AdminUserListApi

urlpatterns = [
    path("dashboard", AdminDashboardApi.as_view(), name="admin-dashboard"),
    path("metrics", AdminMetricsApi.as_view(), name="admin-metrics"),
    path("health", AdminHealthApi.as_view(), name="admin-health"),
    path("logs", AdminLogListApi.as_view(), name="admin-logs"),
    path("notifications", AdminNotificationsApi.as_view(), name="admin-notifications"),
    path("users", AdminUserListApi.as_view(), name="admin-users"),
    path("users/<int:user_id>", AdminUserDetailApi.as_view(), name="admin-user"),
]
