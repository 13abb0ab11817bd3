"""Notifications API: what a client missed, and marking notifications read."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from flowmatik.pagination import PageNumberPagination
from notifications.api.serializers import (
    NotificationListInput,
    NotificationOutput,
    NotificationReadInput,
    NotificationReadOutput,
)
from notifications.selectors import notification_list_for_user
from notifications.services import notification_mark_read


class NotificationListApi(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="notifications_list",
        parameters=[
            NotificationListInput,
            OpenApiParameter("page", int, description="Page number."),
            OpenApiParameter("page_size", int, description="Page size (capped)."),
        ],
        responses={200: NotificationOutput(many=True)},
        description=(
            "The caller's notifications and the broadcasts sent since they joined. "
            "Newest first; with `since`, only newer ones, oldest first (fetch what "
            "a WebSocket client missed while disconnected)."
        ),
    )
    def get(self, request):
        params = NotificationListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = notification_list_for_user(
            user=request.user,
            since=params.validated_data.get("since"),
            unread_only=params.validated_data["unread"],
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            NotificationOutput(page, many=True).data
        )


class NotificationReadApi(APIView):
    @extend_schema(
        operation_id="notifications_mark_read",
        request=NotificationReadInput,
        responses={200: NotificationReadOutput},
        description='Mark notifications read: `{"ids": [...]}` or `{"all": true}`.',
    )
    def post(self, request):
        data = NotificationReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        marked = notification_mark_read(
            user=request.user,
            ids=data.validated_data.get("ids"),
            mark_all=data.validated_data["all"],
        )
        return Response(NotificationReadOutput({"marked": marked}).data)
