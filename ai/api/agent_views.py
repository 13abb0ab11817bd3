"""Agents (`/api/ai/agents`), the tools they can call (`/api/ai/tools`) and the
caller's own MCP servers (`/api/ai/integrations`)."""

from asgiref.sync import async_to_sync
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ai import selectors
from ai.api.agent_serializers import (
    AgentInputSerializer,
    AgentOutputSerializer,
    AgentPatchSerializer,
    IntegrationInputSerializer,
    IntegrationOutputSerializer,
    ToolOutputSerializer,
)
from ai.services import agents as agent_services
from ai.tools.registry import tools_for_user
from ai.types import AgentInfo
from flowmatik.error_schema import ErrorSerializer
from flowmatik.pagination import PageNumberPagination

_PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number."),
    OpenApiParameter("page_size", int, description="Page size (capped)."),
]


def _plan(user_id: int):
    from billing.selectors import plan_info_for_user_id

    return plan_info_for_user_id(user_id=user_id)


def _agents_body(user_id: int, plan, agents: list[AgentInfo]) -> list[dict]:
    return [
        _agent_data(card)
        for card in selectors.agent_cards_for_user(
            user_id=user_id, plan=plan, agents=agents
        )
    ]


def _agent_data(card: selectors.AgentCard) -> dict:
    agent = card.agent
    return {
        "slug": agent.slug,
        "name": agent.name,
        "description": agent.description,
        "language": agent.language,
        "model": agent.model,
        "temperature": agent.temperature,
        "min_plan": agent.min_plan,
        "reasoning_depth": agent.reasoning_depth,
        "owned": agent.owned,
        "system_prompt": card.system_prompt,
        "tools": card.tools,
    }


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class AgentListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="ai_agents_list",
        parameters=_PAGE_PARAMS,
        responses={200: AgentOutputSerializer(many=True), 401: ErrorSerializer},
        description="The agents the caller may use (public ones their plan reaches, "
        "and their own), each with the tools it can call.",
        tags=["ai"],
    )
    def get(self, request):
        plan = _plan(request.user.pk)
        agents = selectors.agent_list_for_user(user_id=request.user.pk, plan=plan)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(agents, request, view=self)
        rows = _agents_body(request.user.pk, plan, page)
        return paginator.get_paginated_response(
            AgentOutputSerializer(rows, many=True).data
        )

    @extend_schema(
        operation_id="ai_agents_create",
        request=AgentInputSerializer,
        responses={
            201: AgentOutputSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="invalid_input, unknown_model"
            ),
            401: ErrorSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="plan_feature_required (workflows), model_not_allowed",
            ),
            409: OpenApiResponse(
                ErrorSerializer, description="slug_taken, too_many_agents"
            ),
        },
        description="Create a private agent (plans with `workflows`).",
        tags=["ai"],
    )
    def post(self, request):
        data = _validated(AgentInputSerializer, request.data)
        plan = _plan(request.user.pk)
        row = agent_services.agent_create(
            user_id=request.user.pk, plan=plan, slug=data.pop("slug"), data=data
        )
        (body,) = _agents_body(request.user.pk, plan, [selectors.agent_info(row)])
        return Response(
            AgentOutputSerializer(body).data, status=status.HTTP_201_CREATED
        )


class AgentDetailView(APIView):
    @extend_schema(
        operation_id="ai_agents_retrieve",
        responses={
            200: AgentOutputSerializer,
            401: ErrorSerializer,
            403: OpenApiResponse(ErrorSerializer, description="plan_feature_required"),
            404: ErrorSerializer,
        },
        tags=["ai"],
    )
    def get(self, request, slug: str):
        plan = _plan(request.user.pk)
        agent = selectors.agent_get_for_user(
            user_id=request.user.pk, plan=plan, slug=slug
        )
        (body,) = _agents_body(request.user.pk, plan, [agent])
        return Response(AgentOutputSerializer(body).data)

    @extend_schema(
        operation_id="ai_agents_update",
        request=AgentPatchSerializer,
        responses={
            200: AgentOutputSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: OpenApiResponse(ErrorSerializer, description="plan_feature_required"),
            404: OpenApiResponse(
                ErrorSerializer, description="not the caller's own agent"
            ),
        },
        tags=["ai"],
    )
    def patch(self, request, slug: str):
        data = _validated(AgentPatchSerializer, request.data)
        plan = _plan(request.user.pk)
        row = agent_services.agent_update(
            user_id=request.user.pk, plan=plan, slug=slug, data=data
        )
        (body,) = _agents_body(request.user.pk, plan, [selectors.agent_info(row)])
        return Response(AgentOutputSerializer(body).data)

    @extend_schema(
        operation_id="ai_agents_destroy",
        responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=["ai"],
    )
    def delete(self, request, slug: str):
        agent_services.agent_delete(user_id=request.user.pk, slug=slug)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="ai_tools_list",
        parameters=_PAGE_PARAMS,
        responses={200: ToolOutputSerializer(many=True), 401: ErrorSerializer},
        description="What the caller's agents can call: the built-in tools and the "
        "tools of the integrations (MCP servers) the caller may use.",
        tags=["ai"],
    )
    def get(self, request):
        plan = _plan(request.user.pk)
        specs = async_to_sync(tools_for_user)(user_id=request.user.pk, plan=plan)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(specs, request, view=self)
        return paginator.get_paginated_response(
            ToolOutputSerializer([s.as_public() for s in page], many=True).data
        )


def _integration_data(row) -> dict:
    return {
        "slug": row.slug,
        "name": row.name,
        "url": row.url,
        "auth_header_name": row.auth_header_name,
        "has_auth": bool(row.auth_header_encrypted),
        "enabled": row.enabled,
        "created_at": row.created_at,
    }


class IntegrationListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="ai_integrations_list",
        parameters=_PAGE_PARAMS,
        responses={200: IntegrationOutputSerializer(many=True), 401: ErrorSerializer},
        description="The caller's own MCP servers.",
        tags=["ai"],
    )
    def get(self, request):
        rows = selectors.mcp_server_list_own(user_id=request.user.pk).order_by("slug")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            IntegrationOutputSerializer(
                [_integration_data(r) for r in page], many=True
            ).data
        )

    @extend_schema(
        operation_id="ai_integrations_create",
        request=IntegrationInputSerializer,
        responses={
            201: IntegrationOutputSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            403: OpenApiResponse(
                ErrorSerializer, description="plan_feature_required (integrations)"
            ),
            409: OpenApiResponse(
                ErrorSerializer, description="slug_taken, too_many_integrations"
            ),
        },
        description="Register an MCP server (streamable HTTP) for the caller's own "
        "agents (plans with `integrations`).",
        tags=["ai"],
    )
    def post(self, request):
        data = _validated(IntegrationInputSerializer, request.data)
        row = agent_services.mcp_server_create(
            user_id=request.user.pk, plan=_plan(request.user.pk), **data
        )
        return Response(
            IntegrationOutputSerializer(_integration_data(row)).data,
            status=status.HTTP_201_CREATED,
        )


class IntegrationDetailView(APIView):
    @extend_schema(
        operation_id="ai_integrations_destroy",
        responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=["ai"],
    )
    def delete(self, request, slug: str):
        agent_services.mcp_server_delete(user_id=request.user.pk, slug=slug)
        return Response(status=status.HTTP_204_NO_CONTENT)
