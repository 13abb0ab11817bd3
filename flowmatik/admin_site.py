"""The Django admin site staff run the business from.

Every admin view runs inside `audit_actor(request.user)`, so django-auditlog
attributes each change made in the admin to the staff member (with the request id
as correlation id). The index page opens with a usage and revenue summary.
"""

from functools import wraps

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class FlowmatikAdminSite(AdminSite):
    site_header = "Flowmatik administration"
    site_title = "Flowmatik admin"
    index_title = "Run the business"
    index_template = "admin/flowmatik_index.html"

    def admin_view(self, view, cacheable=False):
        from flowmatik.audit import audit_actor  # models: imported once apps load

        inner = super().admin_view(view, cacheable)

        @wraps(view)
        def audited(request, *args, **kwargs):
            actor = request.user if request.user.is_authenticated else None
            with audit_actor(actor, remote_addr=request.META.get("REMOTE_ADDR")):
                return inner(request, *args, **kwargs)

        return audited

    def logout(self, request, extra_context=None):
        """Log out, and close the sockets opened with this session's tickets, as
        the portal's log-out does (a session that minted no ticket has none)."""
        from accounts.services import user_session_logged_out
        from accounts.services.ws_tickets import SESSION_TAG_KEY

        user_id = request.user.pk if request.user.is_authenticated else None
        tag = request.session.get(SESSION_TAG_KEY)
        response = super().logout(request, extra_context)
        if user_id and tag and request.method == "POST":
            user_session_logged_out(user_id=user_id, session_tag=tag)
        return response

    def index(self, request, extra_context=None):
        from dashboard.selectors.kpis import admin_index_summary

        context = {**(extra_context or {}), "summary": admin_index_summary()}
        return super().index(request, extra_context=context)


class FlowmatikAdminConfig(AdminConfig):
    """`django.contrib.admin` with `FlowmatikAdminSite` as the default site."""

    default_site = "flowmatik.admin_site.FlowmatikAdminSite"
