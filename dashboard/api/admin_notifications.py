"""Staff API: send and list announcements (`/api/admin/notifications`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from dashboard.api.admin_serializers import AnnouncementInput, AnnouncementOutput
from dashboard.api.admin_users import PAGE_PARAMETERS, STAFF_ERRORS
from dashboard.selectors import announcement_list
from dashboard.services import AnnouncementRequest, announcement_send
from flowmatik.pagination import PageNumberPagination


class AdminNotificationsApi(APIView):
    permission_classes = [IsAdmin]
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="admin_notifications_list",
        tags=["admin"],
        parameters=PAGE_PARAMETERS,
        responses={200: AnnouncementOutput(many=True), **STAFF_ERRORS},
        description="What staff sent, to whom, and to how many users; newest first.",
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(announcement_list(), request, view=self)
        return paginator.get_paginated_response(
            AnnouncementOutput(page, many=True).data
        )

    @extend_schema(
        operation_id="admin_notifications_send",
        tags=["admin"],
        request=AnnouncementInput,
        responses={
            201: AnnouncementOutput,
            400: OpenApiResponse(
                description="`invalid_input`: missing/unknown user or plan."
            ),
            **STAFF_ERRORS,
        },
        description=(
            "Send to one user (`user_id`), everyone on a plan (`plan`) or everyone: "
            "stored as notifications, pushed live on /ws/notifications/ (kind "
            "`broadcast`, `data.level`), optionally e-mailed; audited."
        ),
    )
    def post(self, request):
        data = AnnouncementInput(data=request.data)
        data.is_valid(raise_exception=True)
        announcement = announcement_send(
            actor=request.user, request=AnnouncementRequest(**data.validated_data)
        )
        return Response(AnnouncementOutput(announcement).data, status=201)
