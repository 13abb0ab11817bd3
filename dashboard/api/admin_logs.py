"""Staff API: recent structured log records (`GET /api/admin/logs`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from dashboard.api.admin_serializers import LogListInput, LogRecordOutput
from dashboard.api.admin_users import PAGE_PARAMETERS, STAFF_ERRORS
from dashboard.selectors.logs import LogFilters, log_record_list
from flowmatik.pagination import PageNumberPagination


class AdminLogListApi(APIView):
    permission_classes = [IsAdmin]
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="admin_logs_list",
        tags=["admin"],
        parameters=[LogListInput, *PAGE_PARAMETERS],
        responses={
            200: LogRecordOutput(many=True),
            400: OpenApiResponse(description="`invalid_input`."),
            **STAFF_ERRORS,
        },
        description=(
            "The JSON log lines every process wrote recently (kept for "
            "LOG_STORE_RETENTION_HOURS), newest first: filter by level (and above), "
            "service, user, request id, time range and text."
        ),
    )
    def get(self, request):
        params = LogListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = log_record_list(filters=LogFilters(**params.validated_data))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(LogRecordOutput(page, many=True).data)
