"""Dashboard writes for staff (`<entity>_<verb>(*, actor, ...)`), each audited."""

from dashboard.services.announcements import (
    AnnouncementRequest,
    announcement_resend,
    announcement_send,
)
from dashboard.services.users import AdminUserChanges, admin_user_update

__all__ = [
    "AdminUserChanges",
    "AnnouncementRequest",
    "admin_user_update",
    "announcement_resend",
    "announcement_send",
]
