"""Usage analytics API: a user's usage by day/model/endpoint, and today's quota."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from flowmatik.error_schema import ErrorSerializer
from usage import selectors
from usage.api.serializers import (
    UsageQuerySerializer,
    UsageReportSerializer,
    UsageTodaySerializer,
    UserQuerySerializer,
)
from usage.services import quota_headers

_USER_ID = OpenApiParameter(
    "user_id",
    OpenApiTypes.INT,
    description="Staff only: read this user's usage instead of your own.",
)


class UsageReportView(APIView):
    @extend_schema(
        operation_id="ai_usage_report",
        summary="Requests, tokens and cost, grouped by day, model or endpoint",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First UTC day"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last UTC day"),
            OpenApiParameter(
                "group_by", OpenApiTypes.STR, enum=["day", "model", "endpoint"]
            ),
            _USER_ID,
        ],
        responses={
            200: UsageReportSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request):
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        user_id = selectors.usage_target_user_id(
            user=request.user, requested_user_id=params.get("user_id")
        )
        report = {
            "user_id": user_id,
            "date_from": params["date_from"],
            "date_to": params["date_to"],
            "group_by": params["group_by"],
            "results": selectors.usage_summary(
                user_id=user_id,
                date_from=params["date_from"],
                date_to=params["date_to"],
                group_by=params["group_by"],
            ),
            "totals": selectors.usage_totals(
                user_id=user_id,
                date_from=params["date_from"],
                date_to=params["date_to"],
            ),
        }
        return Response(UsageReportSerializer(report).data)


class UsageTodayView(APIView):
    @extend_schema(
        operation_id="ai_usage_today",
        summary="Today's usage against the daily limits (null limit = unlimited)",
        parameters=[_USER_ID],
        responses={
            200: UsageTodaySerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request):
        query = UserQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        user_id = selectors.usage_target_user_id(
            user=request.user, requested_user_id=query.validated_data.get("user_id")
        )
        today = selectors.usage_today(user_id=user_id)
        response = Response(UsageTodaySerializer({"user_id": user_id, **today}).data)
        for name, value in quota_headers(today["quota"]).items():
            response[name] = value
        return response
