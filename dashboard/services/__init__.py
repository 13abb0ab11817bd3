"""Dashboard writes for staff (`<entity>_<verb>(*, actor, ...)`), each audited."""

from dashboard.services.users import AdminUserChanges, admin_user_update

__all__ = ["AdminUserChanges", "admin_user_update"]
