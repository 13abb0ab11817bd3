"""The OpenAI-compatible API (`/v1/chat/completions`, `/v1/models`) for API keys.

Same chat path, metering and limits as `/api/ai/chat`; stateless like OpenAI's
(no conversation is stored). `model: "agent:<slug>"` chats with an agent (its tool
loop runs here unless the client sends its own `tools`); reasoning models' thoughts
arrive as `reasoning_content`. Errors use OpenAI's shape so SDKs raise the right
exception: `{"error": {"message", "type", "code"}}`.
"""

import json
import time

import orjson
from asgiref.sync import sync_to_async
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from accounts.authentication import aauthenticate
from ai import selectors, services
from ai.api.openai_input import openai_chat_input_fast
from ai.api.schema import documented
from ai.api.serializers import (
    OpenAIChatInputSerializer,
    OpenAIChatOutputSerializer,
    OpenAIErrorSerializer,
    OpenAIModelListSerializer,
)
from ai.types import (
    ChatDelta,
    ChatDone,
    ChatFailure,
    ChatReasoning,
    ChatRequest,
    ChatResult,
    ChatStart,
    ChatStream,
    ChatUsageReport,
)
from flowmatik.acache import acache_read_ahead
from flowmatik.client_ip import client_ip
from flowmatik.errors import ApplicationError
from flowmatik.parsers import parse_body
from flowmatik.sse import SSE_PING, sse_headers, with_keepalive
from usage.services import error_headers, quota_headers

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


def _error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse(
        _error_body(exc), status=exc.status_code, headers=error_headers(exc)
    )


AGENT_PREFIX = "agent:"


def _model_of(name: str | None) -> str | None:
    """`agent:<slug>` names an agent (its own default model), anything else a model."""
    if not name or name.startswith(AGENT_PREFIX):
        return None
    return name


def _agent_of(name: str | None) -> str | None:
    if name and name.startswith(AGENT_PREFIX):
        return name[len(AGENT_PREFIX) :] or name  # "agent:" alone: unknown_agent
    return None


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
    read_ahead = acache_read_ahead(
        selectors.hot_path_read_ahead_keys(), user_keys=selectors.hot_path_user_keys
    )
    try:
        with read_ahead:  # identity, plan, override, catalogue, circuit: 2 reads
            identity = await aauthenticate(request)
            data = parse_body(
                request, OpenAIChatInputSerializer, fast=openai_chat_input_fast
            )
            reply = await services.chat_run(
                ChatRequest(
                    user_id=identity.user_id,
                    api_key_id=identity.api_key_id,
                    request_id=request.request_id,
                    endpoint="openai.chat.stream" if data["stream"] else "openai.chat",
                    messages=data["messages"],
                    model=_model_of(data.get("model")),
                    agent=_agent_of(data.get("model")),
                    temperature=data.get("temperature"),
                    max_tokens=data.get("max_completion_tokens")
                    or data.get("max_tokens"),
                    tools=data.get("tools"),
                    tool_choice=data.get("tool_choice"),
                    stream=data["stream"],
                    ip=client_ip(request) or None,
                    plan=identity.plan,
                )
            )
    except ApplicationError as exc:
        return _error(exc)
    if isinstance(reply, ChatStream):
        include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
        return _chunk_stream(reply, include_usage=include_usage)
    return _completion(reply)


def _completion(result: ChatResult) -> HttpResponse:
    """A finished call as OpenAI's `chat.completion` object."""
    message = {"role": "assistant", "content": result.content or None}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
    if result.reasoning:
        message["reasoning_content"] = result.reasoning
    body = {
        "id": _completion_id(result.request_id),
        "object": "chat.completion",
        "created": int(time.time()),
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
    return HttpResponse(  # orjson: compact UTF-8, as OpenAI's own responses
        orjson.dumps(body),
        content_type="application/json",
        headers=quota_headers(result.quota),
    )


def _chunk_stream(stream: ChatStream, *, include_usage: bool) -> StreamingHttpResponse:
    """A started stream as OpenAI's `chat.completion.chunk` events + `[DONE]`.

    Event kinds OpenAI has no chunk for are not sent (the stream stays valid for
    OpenAI's SDKs).
    """
    completion_id = _completion_id(stream.start.request_id)
    created = int(time.time())

    def chunk(choices: list, usage: dict | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": stream.start.model,
            "choices": choices,
        }
        if usage is not None:
            payload["usage"] = usage
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def delta(fields: dict, finish_reason: str | None = None) -> bytes:
        return chunk([{"index": 0, "delta": fields, "finish_reason": finish_reason}])

    def frame(event, out: list[bytes]) -> None:
        nonlocal usage_frame
        if isinstance(event, ChatDelta):
            out.append(delta({"content": event.content}))
        elif isinstance(event, ChatStart):
            out.append(delta({"role": "assistant"}))
        elif isinstance(event, ChatReasoning):
            out.append(delta({"reasoning_content": event.content}))
        elif isinstance(event, ChatUsageReport) and include_usage:
            usage = event.usage
            usage_frame = chunk(
                [],
                {
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "total_tokens": usage.total_tokens,
                },
            )
        elif isinstance(event, ChatDone):
            if event.tool_calls:
                calls = [
                    {"index": i, **call} for i, call in enumerate(event.tool_calls)
                ]
                out.append(delta({"tool_calls": calls}))
            out.append(delta({}, event.finish_reason))
            if usage_frame:
                out.append(usage_frame)
        elif isinstance(event, ChatFailure):
            body = json.dumps(_error_body(event.error))
            out.append(f"data: {body}\n\n".encode())

    usage_frame = None

    async def frames():
        try:
            # The events that arrived together leave as one body (one send).
            async for batch in with_keepalive(stream.events):
                if not batch:
                    yield SSE_PING
                    continue
                out: list[bytes] = []
                for event in batch:
                    frame(event, out)
                if out:
                    yield b"".join(out)
            yield b"data: [DONE]\n\n"
        finally:
            await stream.aclose()

    response = StreamingHttpResponse(
        frames(),
        content_type="text/event-stream",
        headers=quota_headers(stream.quota),
    )
    return sse_headers(response)


@csrf_exempt
async def models_view(request: HttpRequest):
    try:
        identity = await aauthenticate(request)
    except ApplicationError as exc:
        return _error(exc)
    plan = await services.plan_for_user(identity.user_id)
    catalogue = await selectors.acatalogue_get()
    models = selectors.models_for_plan(
        catalogue, plan_slug=plan.slug, plan_rank=plan.sort_order
    )
    agents = await sync_to_async(selectors.agent_list_for_user)(
        user_id=identity.user_id, plan=plan
    )
    data = [
        {
            "id": m.model_id,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": m.provider,
        }
        for m in models
    ]
    data += [
        {
            "id": f"{AGENT_PREFIX}{a.slug}",
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": "flowmatik-agents",
        }
        for a in agents
    ]
    return JsonResponse({"object": "list", "data": data})


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
        description="The models the key owner's plan may use, and their agents as "
        "`agent:<slug>` (use one as `model` to chat with that agent).",
        responses={200: OpenAIModelListSerializer, 401: OpenAIErrorSerializer},
        tags=["openai-compatible"],
    )
    def get(self, request):
        """Schema only: `models_view` serves this route."""


chat_completions = documented(chat_completions_view, ChatCompletionsSchemaView)
models = documented(models_view, ModelsSchemaView)
