"""Staff API: the user list and one user's detail and changes (`/api/admin/users`)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from dashboard.api.admin_serializers import (
    AdminUserDetailOutput,
    AdminUserListInput,
    AdminUserRowOutput,
    AdminUserUpdateInput,
)
from dashboard.selectors.users import (
    UserFilters,
    admin_user_detail,
    admin_user_get,
    admin_user_list,
    admin_user_rows,
)
from dashboard.services import AdminUserChanges, admin_user_update
from dashboard.services.users import UNSET
from flowmatik.pagination import PageNumberPagination

STAFF_ERRORS = {
    401: OpenApiResponse(description="`not_authenticated`."),
    403: OpenApiResponse(description="`admin_required`: staff only."),
}
PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number."),
    OpenApiParameter("page_size", int, description="Page size (capped)."),
]


class AdminUserListApi(APIView):
    permission_classes = [IsAdmin]
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="admin_users_list",
        tags=["admin"],
        parameters=[AdminUserListInput, *PAGE_PARAMETERS],
        responses={
            200: AdminUserRowOutput(many=True),
            400: OpenApiResponse(description="`invalid_input`."),
            **STAFF_ERRORS,
        },
        description=(
            "Search (e-mail, name), filter (role, plan, provider, active, joined "
            "range), sort and paginate users; each row with plan, usage today and "
            "AI cost this month."
        ),
    )
    def get(self, request):
        params = AdminUserListInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = admin_user_list(filters=UserFilters(**params.validated_data))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        rows = admin_user_rows(users=page)
        return paginator.get_paginated_response(
            AdminUserRowOutput(rows, many=True).data
        )


class AdminUserDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        operation_id="admin_users_retrieve",
        tags=["admin"],
        responses={
            200: AdminUserDetailOutput,
            404: OpenApiResponse(description="`not_found`."),
            **STAFF_ERRORS,
        },
        description=(
            "Subscription, quota and override, usage this month, API keys, recent "
            "AI requests and content jobs of one user."
        ),
    )
    def get(self, request, user_id: int):
        user = admin_user_get(user_id=user_id)
        return Response(AdminUserDetailOutput(admin_user_detail(user=user)).data)

    @extend_schema(
        operation_id="admin_users_update",
        tags=["admin"],
        request=AdminUserUpdateInput,
        responses={
            200: AdminUserDetailOutput,
            400: OpenApiResponse(description="`invalid_input`."),
            404: OpenApiResponse(description="`not_found`."),
            409: OpenApiResponse(
                description="`cannot_change_self`: staff demoting or deactivating "
                "themselves."
            ),
            **STAFF_ERRORS,
        },
        description=(
            "Change the role (`admin`/`user`), deactivate (signed out everywhere, "
            "API keys revoked at once) or reactivate, set or remove a quota "
            "override, or grant a temporary boost. Every change is audited."
        ),
    )
    def patch(self, request, user_id: int):
        user = admin_user_get(user_id=user_id)
        data = AdminUserUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        admin_user_update(
            actor=request.user,
            user=user,
            changes=AdminUserChanges(
                role=values.get("role"),
                is_active=values.get("is_active"),
                quota_override=values.get("quota_override", UNSET),
                boost=values.get("boost"),
            ),
        )
        return Response(AdminUserDetailOutput(admin_user_detail(user=user)).data)
