"""Staff API: the business at a glance (`GET /api/admin/dashboard`)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from dashboard.api.admin_serializers import AdminDashboardOutput
from dashboard.api.admin_users import STAFF_ERRORS
from dashboard.selectors.kpis import dashboard_kpis


class AdminDashboardApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="admin_dashboard",
        tags=["admin"],
        responses={200: AdminDashboardOutput, **STAFF_ERRORS},
        description=(
            "Users (total, new today/7 d/30 d, active today), live subscriptions by "
            "plan and provider, MRR and revenue (today, this month, per provider "
            "and currency), AI requests/tokens/cost today with a 30-day series and "
            "the top users by cost, the HTTP error rate, webhook failures in 24 h "
            "and content jobs by status."
        ),
    )
    def get(self, request):
        return Response(AdminDashboardOutput(dashboard_kpis()).data)
