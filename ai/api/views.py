"""The ai API: chat (async, JSON or SSE), conversations, models, provider status."""

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import aauthenticate
from ai import selectors, services
from ai.api.schema import documented
from ai.api.serializers import (
    ChatInputSerializer,
    ChatOutputSerializer,
    ChatStreamEventSerializer,
    ConversationDetailSerializer,
    ConversationRenameSerializer,
    ConversationSerializer,
    MessageSerializer,
    ModelOutputSerializer,
    StatusOutputSerializer,
)
from ai.types import ChatRequest, ChatResult, ChatStream
from flowmatik.client_ip import client_ip
from flowmatik.error_schema import ErrorSerializer
from flowmatik.errors import ApplicationError, error_response
from flowmatik.parsers import parse_body
from flowmatik.sse import SSE_PING, sse_frame, sse_headers, with_keepalive
from usage.services import error_headers, quota_headers

CHAT_ENDPOINT = "chat"
CHAT_STREAM_ENDPOINT = "chat.stream"


def _error(exc: ApplicationError) -> JsonResponse:
    return error_response(exc, headers=error_headers(exc))


@csrf_exempt
async def chat_view(request: HttpRequest):
    """POST /api/ai/chat — JSON reply, or Server-Sent Events with `stream: true`."""
    if request.method != "POST":
        exc = ApplicationError(
            "Method not allowed.", code="method_not_allowed", status_code=405
        )
        return error_response(exc, headers={"Allow": "POST"})
    try:
        identity = await aauthenticate(request)
        data = parse_body(request, ChatInputSerializer)
        reply = await services.chat_run(
            ChatRequest(
                user_id=identity.user_id,
                api_key_id=identity.api_key_id,
                request_id=request.request_id,
                endpoint=CHAT_STREAM_ENDPOINT if data["stream"] else CHAT_ENDPOINT,
                message=data["message"],
                conversation_id=data.get("conversation_id"),
                model=data.get("model") or None,
                agent=data.get("agent") or None,
                temperature=data.get("temperature"),
                max_tokens=data.get("max_tokens"),
                persist=True,
                stream=data["stream"],
                ip=client_ip(request) or None,
                reasoning_depth=(data.get("reasoning") or {}).get("depth", 0),
            )
        )
    except ApplicationError as exc:
        return _error(exc)
    if isinstance(reply, ChatStream):
        return _event_stream(reply)
    return _reply(reply)


def _reply(result: ChatResult) -> JsonResponse:
    body = {
        "reply": result.content,
        "conversation_id": result.conversation_id,
        "message_id": result.message_id,
        "model": result.model,
        "provider": result.provider,
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens,
            "estimated": result.usage.estimated,
        },
        "cost": str(result.usage.cost),
        "currency": result.usage.currency,
        "finish_reason": result.finish_reason,
        "request_id": result.request_id,
        "reasoning": result.reasoning,
    }
    if result.reasoning_steps:
        body["reasoning_steps"] = result.reasoning_steps
    return JsonResponse(body, headers=quota_headers(result.quota))


def _event_stream(stream: ChatStream) -> StreamingHttpResponse:
    """Every event as `event: <type>` + `data: <as_dict()>` (any kind, new ones too)."""

    async def frames():
        try:
            # The events that arrived together leave as one body (one send).
            async for batch in with_keepalive(stream.events):
                if not batch:
                    yield SSE_PING
                else:
                    yield b"".join(sse_frame(e.type, e.as_dict()) for e in batch)
        finally:
            await stream.aclose()

    response = StreamingHttpResponse(
        frames(),
        content_type="text/event-stream",
        headers=quota_headers(stream.quota),
    )
    return sse_headers(response)


class ChatSchemaView(APIView):
    # Documents `chat_view`, which serves the route as a native async view.

    @extend_schema(
        operation_id="ai_chat",
        summary="Chat with an AI model",
        description="Send a message (optionally continuing a conversation). "
        "Authenticate with a JWT or an API key. Every response carries the "
        "`X-RateLimit-*` headers.",
        request=ChatInputSerializer,
        responses={
            200: OpenApiResponse(
                ChatOutputSerializer,
                description="JSON reply; with `stream: true` a `text/event-stream` "
                "of events `start`, `delta`, `reasoning`, `tool_call` / `tool_result` "
                "(agents with tools), `usage`, `done` or `error`, each "
                "`data:` being the JSON below.",
            ),
            (200, "text/event-stream"): ChatStreamEventSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="invalid_input, malformed_request, unknown_model",
            ),
            401: OpenApiResponse(ErrorSerializer, description="not_authenticated"),
            413: OpenApiResponse(ErrorSerializer, description="payload_too_large"),
            415: OpenApiResponse(ErrorSerializer, description="unsupported_media_type"),
            403: OpenApiResponse(description="model_not_allowed"),
            404: OpenApiResponse(description="conversation not found"),
            429: OpenApiResponse(description="rate_limited, quota_exceeded"),
            502: OpenApiResponse(description="provider_error"),
            503: OpenApiResponse(description="provider_unavailable"),
            504: OpenApiResponse(description="provider_timeout"),
        },
        tags=["ai"],
    )
    def post(self, request):
        """Schema only: `chat_view` serves this route."""


chat = documented(chat_view, ChatSchemaView)


class ConversationListView(generics.ListAPIView):
    serializer_class = ConversationSerializer

    def get_queryset(self):
        return selectors.conversation_list(
            user_id=self.request.user.pk,
            search=self.request.query_params.get("search", "").strip(),
        )

    @extend_schema(
        operation_id="ai_conversations_list",
        parameters=[
            OpenApiParameter("search", str, description="Filter by title (contains)")
        ],
        responses={200: ConversationSerializer(many=True), 401: ErrorSerializer},
        tags=["ai"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class ConversationDetailView(APIView):
    @extend_schema(
        operation_id="ai_conversations_retrieve",
        responses={
            200: ConversationDetailSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["ai"],
    )
    def get(self, request, conversation_id: int):
        conversation = selectors.conversation_get(
            user_id=request.user.pk, conversation_id=conversation_id
        )
        data = dict(ConversationSerializer(conversation).data)
        data["messages"] = MessageSerializer(
            selectors.conversation_messages(conversation=conversation), many=True
        ).data
        return Response(data)

    @extend_schema(
        operation_id="ai_conversations_rename",
        request=ConversationRenameSerializer,
        responses={
            200: ConversationSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["ai"],
    )
    def patch(self, request, conversation_id: int):
        serializer = ConversationRenameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation = services.conversation_rename(
            user_id=request.user.pk,
            conversation_id=conversation_id,
            title=serializer.validated_data["title"],
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        operation_id="ai_conversations_destroy",
        responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=["ai"],
    )
    def delete(self, request, conversation_id: int):
        services.conversation_delete(
            user_id=request.user.pk, conversation_id=conversation_id
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _plan(user_id: int):
    from billing.selectors import plan_info_for_user_id

    return plan_info_for_user_id(user_id=user_id)


class ModelListView(APIView):
    @extend_schema(
        operation_id="ai_models_list",
        parameters=[
            OpenApiParameter("modality", str, enum=["chat", "image", "audio", "video"])
        ],
        responses={200: ModelOutputSerializer(many=True), 401: ErrorSerializer},
        tags=["ai"],
    )
    def get(self, request):
        plan = _plan(request.user.pk)
        catalogue = selectors.catalogue_get()
        models = selectors.models_for_plan(
            catalogue,
            plan_slug=plan.slug,
            plan_rank=plan.sort_order,
            modality=request.query_params.get("modality") or None,
        )
        default = _default_model_id(catalogue, plan)
        rows = [
            {**model.__dict__, "is_default": model.model_id == default}
            for model in models
        ]
        return Response(ModelOutputSerializer(rows, many=True).data)


def _default_model_id(catalogue, plan) -> str | None:
    try:
        return selectors.model_default(
            catalogue, plan_slug=plan.slug, plan_rank=plan.sort_order, modality="chat"
        ).model_id
    except ApplicationError:
        return None


class StatusView(APIView):
    @extend_schema(
        operation_id="ai_status",
        responses={200: StatusOutputSerializer, 401: ErrorSerializer},
        tags=["ai"],
    )
    def get(self, request):
        from datetime import UTC, datetime

        providers = selectors.provider_status()
        for row in providers:
            for key in ("last_success_at", "last_failure_at"):
                if row[key] is not None:
                    row[key] = datetime.fromtimestamp(row[key], tz=UTC)
        plan = _plan(request.user.pk)
        body = {
            "providers": providers,
            "default_model": _default_model_id(selectors.catalogue_get(), plan),
        }
        return Response(StatusOutputSerializer(body).data)
