"""Staff API: live metrics and component health (`/api/admin/metrics`, `/health`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from dashboard.api.admin_serializers import (
    AdminHealthOutput,
    AdminMetricsInput,
    AdminMetricsOutput,
)
from dashboard.api.admin_users import STAFF_ERRORS
from dashboard.selectors.operations import admin_health, admin_metrics


class AdminMetricsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="admin_metrics",
        tags=["admin"],
        parameters=[AdminMetricsInput],
        responses={
            200: AdminMetricsOutput,
            400: OpenApiResponse(description="`invalid_input`: unknown window."),
            503: OpenApiResponse(description="`metrics_unavailable`."),
            **STAFF_ERRORS,
        },
        description=(
            "Recorded by every web process and worker into one store: requests per "
            "second, average and p95 latency, 4xx/5xx per endpoint, AI cost per "
            "user, quota refusals and webhook outcomes over `window` (5m, 1h, 24h); "
            "open WebSockets, CPU/memory per process, Celery queue depth, revenue."
        ),
    )
    def get(self, request):
        params = AdminMetricsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = admin_metrics(window=params.validated_data["window"])
        return Response(AdminMetricsOutput(data).data)


class AdminHealthApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="admin_health",
        tags=["admin"],
        responses={200: AdminHealthOutput, **STAFF_ERRORS},
        description=(
            "Each component with its latency: database, cache, Redis, broker, "
            "channel layer, Celery workers (ping), beat (last heartbeat), disk; "
            "each AI provider's circuit; each payment provider's configuration. "
            "Always 200 for staff: the body says what is failing."
        ),
    )
    def get(self, request):
        return Response(AdminHealthOutput(admin_health()).data)
