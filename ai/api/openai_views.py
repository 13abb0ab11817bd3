"""The OpenAI-compatible API (`/v1/chat/completions`, `/v1/models`) for API keys.

Same chat path, metering and limits as `/api/ai/chat`; stateless like OpenAI's
(no conversation is stored). Errors use OpenAI's shape so SDKs raise the right
exception: `{"error": {"message", "type", "code"}}`.
"""

import json
import time

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from ai import selectors, services
from ai.api import common
from ai.api.serializers import (
    OpenAIChatInputSerializer,
    OpenAIChatOutputSerializer,
    OpenAIErrorSerializer,
    OpenAIModelListSerializer,
)
from flowmatik.errors import ApplicationError

MODEL_CREATED = 1_735_689_600  # catalogue rows carry no upstream creation date
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def _error_body(exc: ApplicationError) -> dict:
    body = {
        "message": exc.message,
        "type": _ERROR_TYPES.get(exc.status_code, "api_error"),
        "code": exc.code,
    }
    if exc.details:
        body["param"] = next(iter(exc.details.get("fields", {}) or {}), None)
    return {"error": body}


def _error(exc: ApplicationError, quota=None) -> JsonResponse:
    response = JsonResponse(_error_body(exc), status=exc.status_code)
    return common.apply_headers(response, common.error_headers(exc, quota))


def _completion_id(request_id: str) -> str:
    return f"chatcmpl-{request_id.removeprefix('req_')}"


@csrf_exempt
async def chat_completions_view(request: HttpRequest):
    if request.method != "POST":
        return _error(
            ApplicationError(
                "Method not allowed.", code="method_not_allowed", status_code=405
            )
        )
    try:
        identity = await common.authenticate(request)
        data = common.parse_body(request, OpenAIChatInputSerializer)
        stream = data.get("stream", False)
        prepared = await services.chat_prepare(
            identity=identity,
            message=[dict(m) for m in data["messages"]],
            conversation_id=None,
            model=data.get("model") or None,
            agent=None,
            temperature=data.get("temperature"),
            max_tokens=data.get("max_completion_tokens") or data.get("max_tokens"),
            request_id=request.request_id,
            endpoint="openai.chat.stream" if stream else "openai.chat",
            ip=common.client_ip(request),
            tools=data.get("tools") or None,
            tool_choice=data.get("tool_choice"),
        )
    except ApplicationError as exc:
        return _error(exc)
    quota = prepared.reservation.quota
    completion_id = _completion_id(prepared.request_id)
    created = int(time.time())

    if not stream:
        try:
            result = await services.chat_complete(prepared)
        except ApplicationError as exc:
            return _error(exc, quota)
        message = {"role": "assistant", "content": result.content or None}
        if result.tool_calls:
            message["tool_calls"] = result.tool_calls
        body = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": result.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": result.finish_reason}
            ],
            "usage": {
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
                "total_tokens": result.usage.total_tokens,
            },
        }
        return common.apply_headers(
            JsonResponse(body), common.quota_headers(result.quota or quota)
        )

    include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
    events = services.chat_stream(prepared)
    first = await events.__anext__()
    if first.type == "error":
        await events.aclose()
        return _error(
            ApplicationError(
                first.data["message"],
                code=first.data["code"],
                status_code=first.data.get("status", 502),
            ),
            quota,
        )
    model_id = first.data.get("model", prepared.model.model_id)

    def chunk(choices: list, usage: dict | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "choices": choices,
        }
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    async def frames():
        usage_frame = None
        try:
            yield chunk(
                [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]
            )
            async for event in common.with_keepalive(events):
                if event is None:
                    yield common.SSE_PING
                elif event.type == "delta":
                    yield chunk(
                        [
                            {
                                "index": 0,
                                "delta": {"content": event.data["content"]},
                                "finish_reason": None,
                            }
                        ]
                    )
                elif event.type == "usage" and include_usage:
                    usage = {
                        k: event.data[k]
                        for k in ("prompt_tokens", "completion_tokens", "total_tokens")
                    }
                    usage_frame = chunk([], usage)
                elif event.type == "done":
                    calls = event.data.get("tool_calls") or []
                    if calls:
                        yield chunk(
                            [
                                {
                                    "index": 0,
                                    "delta": {
                                        "tool_calls": [
                                            {"index": i, **call}
                                            for i, call in enumerate(calls)
                                        ]
                                    },
                                    "finish_reason": None,
                                }
                            ]
                        )
                    yield chunk(
                        [
                            {
                                "index": 0,
                                "delta": {},
                                "finish_reason": event.data.get("finish_reason"),
                            }
                        ]
                    )
                    if include_usage and usage_frame:
                        yield usage_frame
                elif event.type == "error":
                    err = ApplicationError(
                        event.data["message"],
                        code=event.data["code"],
                        status_code=event.data.get("status", 502),
                    )
                    yield f"data: {json.dumps(_error_body(err))}\n\n".encode()
            yield b"data: [DONE]\n\n"
        finally:
            await events.aclose()

    response = StreamingHttpResponse(frames(), content_type="text/event-stream")
    common.sse_headers(response)
    return common.apply_headers(response, common.quota_headers(quota))


@csrf_exempt
async def models_view(request: HttpRequest):
    try:
        identity = await common.authenticate(request)
    except ApplicationError as exc:
        return _error(exc)
    plan = await services.plan_for_user(identity.user_id)
    catalogue = await selectors.acatalogue_get()
    models = selectors.models_for_plan(
        catalogue, plan_slug=plan.slug, plan_rank=plan.sort_order
    )
    return JsonResponse(
        {
            "object": "list",
            "data": [
                {
                    "id": m.model_id,
                    "object": "model",
                    "created": MODEL_CREATED,
                    "owned_by": m.provider,
                }
                for m in models
            ],
        }
    )


class ChatCompletionsSchemaView(APIView):
    # Documents `chat_completions_view`, which serves the route (native async).

    @extend_schema(
        operation_id="openai_chat_completions",
        summary="OpenAI-compatible chat completions",
        description="For API keys (`Authorization: Bearer fmk_...`); metered and "
        "limited like `/api/ai/chat`; stateless (no conversation is stored).",
        request=OpenAIChatInputSerializer,
        responses={
            200: OpenApiResponse(
                OpenAIChatOutputSerializer,
                description="A `chat.completion`; with `stream: true` a "
                "`text/event-stream` of `chat.completion.chunk` objects ending "
                "with `data: [DONE]`.",
            ),
            400: OpenAIErrorSerializer,
            401: OpenAIErrorSerializer,
            403: OpenAIErrorSerializer,
            413: OpenAIErrorSerializer,
            415: OpenAIErrorSerializer,
            429: OpenAIErrorSerializer,
            502: OpenAIErrorSerializer,
            503: OpenAIErrorSerializer,
            504: OpenAIErrorSerializer,
        },
        tags=["openai-compatible"],
    )
    def post(self, request):
        """Schema only: `chat_completions_view` serves this route."""


class ModelsSchemaView(APIView):
    @extend_schema(
        operation_id="openai_models_list",
        summary="OpenAI-compatible model list",
        description="The models the key owner's plan may use.",
        responses={200: OpenAIModelListSerializer, 401: OpenAIErrorSerializer},
        tags=["openai-compatible"],
    )
    def get(self, request):
        """Schema only: `models_view` serves this route."""


chat_completions = common.documented(chat_completions_view, ChatCompletionsSchemaView)
models = common.documented(models_view, ModelsSchemaView)
