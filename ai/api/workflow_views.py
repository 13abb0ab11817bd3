"""Workflows (`/api/ai/workflows`): CRUD, copy a template, run (one job)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ai import selectors
from ai.api.studio_serializers import JobSerializer
from ai.api.studio_views import job_output
from ai.api.workflow_serializers import (
    WorkflowInputSerializer,
    WorkflowOutputSerializer,
    WorkflowPatchSerializer,
    WorkflowRunInputSerializer,
    workflow_data,
)
from ai.services import workflows as workflow_services
from flowmatik.error_schema import ErrorSerializer
from flowmatik.pagination import PageNumberPagination

_GATED = OpenApiResponse(ErrorSerializer, description="plan_feature_required")
_BAD = OpenApiResponse(
    ErrorSerializer,
    description="invalid_input (field errors in details.fields, a step's under "
    "details.fields.steps.<index>), unknown_agent",
)


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _out(workflow) -> dict:
    return WorkflowOutputSerializer(workflow_data(workflow)).data


class WorkflowListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        operation_id="ai_workflows_list",
        parameters=[
            OpenApiParameter("page", int, description="Page number."),
            OpenApiParameter("page_size", int, description="Page size (capped)."),
        ],
        responses={200: WorkflowOutputSerializer(many=True), 401: ErrorSerializer},
        description="The caller's workflows, then the public templates.",
        tags=["workflows"],
    )
    def get(self, request):
        rows = selectors.workflow_list_visible(user_id=request.user.pk)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([_out(w) for w in page])

    @extend_schema(
        operation_id="ai_workflows_create",
        request=WorkflowInputSerializer,
        responses={
            201: WorkflowOutputSerializer,
            400: _BAD,
            401: ErrorSerializer,
            403: _GATED,
        },
        description="Save a workflow (plans with `workflows`: Pro and Business).",
        tags=["workflows"],
    )
    def post(self, request):
        data = _validated(WorkflowInputSerializer, request.data)
        workflow = workflow_services.workflow_create(user_id=request.user.pk, data=data)
        return Response(_out(workflow), status=status.HTTP_201_CREATED)


class WorkflowDetailView(APIView):
    @extend_schema(
        operation_id="ai_workflows_retrieve",
        responses={
            200: WorkflowOutputSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["workflows"],
    )
    def get(self, request, workflow_id: int):
        workflow = selectors.workflow_get_visible(
            user_id=request.user.pk, workflow_id=workflow_id
        )
        return Response(_out(workflow))

    @extend_schema(
        operation_id="ai_workflows_update",
        request=WorkflowPatchSerializer,
        responses={
            200: WorkflowOutputSerializer,
            400: _BAD,
            401: ErrorSerializer,
            403: _GATED,
            404: ErrorSerializer,
        },
        description="Change your own workflow (templates: copy them first).",
        tags=["workflows"],
    )
    def patch(self, request, workflow_id: int):
        data = _validated(WorkflowPatchSerializer, request.data)
        workflow = workflow_services.workflow_update(
            user_id=request.user.pk, workflow_id=workflow_id, data=data
        )
        return Response(_out(workflow))

    @extend_schema(
        operation_id="ai_workflows_destroy",
        responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=["workflows"],
    )
    def delete(self, request, workflow_id: int):
        workflow_services.workflow_delete(
            user_id=request.user.pk, workflow_id=workflow_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowCopyView(APIView):
    @extend_schema(
        operation_id="ai_workflows_copy",
        request=None,
        responses={
            201: WorkflowOutputSerializer,
            401: ErrorSerializer,
            403: _GATED,
            404: ErrorSerializer,
        },
        description="Your own, editable copy of a public template.",
        tags=["workflows"],
    )
    def post(self, request, workflow_id: int):
        workflow = workflow_services.workflow_copy(
            user_id=request.user.pk, workflow_id=workflow_id
        )
        return Response(_out(workflow), status=status.HTTP_201_CREATED)


class WorkflowRunView(APIView):
    @extend_schema(
        operation_id="ai_workflows_run",
        request=WorkflowRunInputSerializer,
        responses={
            202: JobSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="invalid_input (details.fields.inputs)"
            ),
            401: ErrorSerializer,
            403: _GATED,
            404: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="too_many_jobs"),
        },
        description="Run the workflow as one job (type `workflow`): per-step "
        "progress, `result.steps` (each step's output and usage) and "
        "`result.outputs`; a failed step fails the run (`error`, "
        "`result.failed_step`) charging only the steps that ran. Follow it like "
        "any job; cancel with `POST /api/ai/jobs/{id}/cancel`.",
        tags=["workflows"],
    )
    def post(self, request, workflow_id: int):
        data = _validated(WorkflowRunInputSerializer, request.data)
        job = workflow_services.workflow_run_start(
            user_id=request.user.pk,
            workflow_id=workflow_id,
            inputs=data["inputs"],
            request_id=getattr(request, "request_id", ""),
        )
        return Response(
            JobSerializer(job_output(job)).data, status=status.HTTP_202_ACCEPTED
        )
