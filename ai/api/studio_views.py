"""The content studio API: generate content (202 + job), jobs, events, assets.

`POST /api/ai/generate-content` stores a job and answers at once; a Celery task
does the work. `GET /api/ai/jobs/{id}/events` streams the job's progress as
Server-Sent Events (for clients without WebSockets). Assets are served by
`GET /api/ai/assets/{id}/content` to their owner only: through a signed,
short-lived link (what the job lists) or the owner's own credentials; it honours
`Range` (audio/video seeking) and `?download=1` (attachment).
"""

import asyncio
import re
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import aauthenticate
from ai import asset_links, selectors
from ai.api.schema import documented
from ai.api.studio_serializers import (
    AssetLinkQuerySerializer,
    GenerateContentInputSerializer,
    JobListQuerySerializer,
    JobSerializer,
)
from ai.errors import AssetLinkExpired, AssetLinkInvalid, JobNotFound
from ai.models import ContentJob, JobStatus
from ai.services import jobs
from flowmatik import sse
from flowmatik.error_schema import ErrorSerializer
from flowmatik.errors import ApplicationError, InvalidInput, error_response

TERMINAL = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED}
STREAM_CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def job_output(job: ContentJob) -> dict[str, Any]:
    """A job as the API shows it, with fresh signed links to its assets."""
    assets = []
    for asset in job.assets.all():
        link = asset_links.asset_link_build(asset_id=asset.pk, user_id=job.user_id)
        assets.append(
            {
                "id": asset.pk,
                "kind": asset.kind,
                "index": asset.index,
                "content_type": asset.content_type,
                "size_bytes": asset.size_bytes,
                "url": link.url,
                "download_url": link.download_url,
                "expires_at": link.expires_at,
            }
        )
    error = (
        {"code": job.error_code, "message": job.error_message}
        if job.error_code
        else None
    )
    return {
        "id": job.pk,
        "type": job.type,
        "status": job.status,
        "progress": job.progress,
        "prompt": job.prompt,
        "options": job.options,
        "agent": job.agent,
        "model": job.model,
        "language": job.language,
        "result_text": job.result_text,
        "result": job.result,
        "assets": assets,
        "usage": {
            "prompt_tokens": job.prompt_tokens,
            "completion_tokens": job.completion_tokens,
            "total_tokens": job.prompt_tokens + job.completion_tokens,
            "units": job.units,
        },
        "cost": job.cost,
        "currency": job.currency,
        "error": error,
        "reasoning_depth": job.reasoning_depth,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def _rendered(job: ContentJob) -> dict[str, Any]:
    return JobSerializer(job_output(job)).data


class GenerateContentView(APIView):
    @extend_schema(
        operation_id="ai_generate_content",
        summary="Generate content (a background job)",
        description="Text formats (`blog_post`, `social_post`, `email`, `ad_copy`, "
        "`product_description`, `video_script`, `seo_meta`), `image`, `audio` "
        "(text to speech) and `video`. `options` depend on `type` (one schema per "
        "type). Answers 202 with the job; follow it with `GET /api/ai/jobs/{id}`, "
        "its `/events` stream, or the notification socket. Images need the "
        "`images` plan feature (Starter), audio and video need Pro.",
        request=GenerateContentInputSerializer,
        responses={
            202: JobSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="invalid_input (field errors in details.fields, "
                "options under details.fields.options), unknown_model, unknown_agent",
            ),
            401: ErrorSerializer,
            403: OpenApiResponse(
                ErrorSerializer, description="plan_feature_required, model_not_allowed"
            ),
            429: OpenApiResponse(ErrorSerializer, description="too_many_jobs"),
            503: OpenApiResponse(ErrorSerializer, description="provider_unavailable"),
        },
        tags=["studio"],
    )
    def post(self, request):
        serializer = GenerateContentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = jobs.job_create(
            user_id=request.user.pk,
            job_type=data["type"],
            prompt=data["prompt"],
            options=data["options"],
            agent=data.get("agent") or "",
            model=data.get("model") or "",
            request_id=getattr(request, "request_id", ""),
            reasoning_depth=(data.get("reasoning") or {}).get("depth", 0),
        )
        return Response(_rendered(job), status=status.HTTP_202_ACCEPTED)


class JobListView(generics.ListAPIView):
    serializer_class = JobSerializer

    def get_queryset(self):
        query = JobListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.job_list(
            user_id=self.request.user.pk,
            job_type=query.validated_data.get("type", ""),
            status=query.validated_data.get("status", ""),
            search=(query.validated_data.get("search") or "").strip(),
        )

    def get_serializer(self, instance=None, *args, **kwargs):
        if kwargs.get("many"):
            instance = [job_output(job) for job in instance]
        return super().get_serializer(instance, *args, **kwargs)

    @extend_schema(
        operation_id="ai_jobs_list",
        parameters=[JobListQuerySerializer],
        responses={
            200: JobSerializer(many=True),
            400: ErrorSerializer,
            401: ErrorSerializer,
        },
        tags=["studio"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class JobDetailView(APIView):
    @extend_schema(
        operation_id="ai_jobs_retrieve",
        responses={200: JobSerializer, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=["studio"],
    )
    def get(self, request, job_id: int):
        return Response(
            _rendered(selectors.job_get(user_id=request.user.pk, job_id=job_id))
        )

    @extend_schema(
        operation_id="ai_jobs_destroy",
        description="Deletes the job and its files (a running job is canceled).",
        responses={204: None, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=["studio"],
    )
    def delete(self, request, job_id: int):
        jobs.job_delete(user_id=request.user.pk, job_id=job_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobCancelView(APIView):
    @extend_schema(
        operation_id="ai_jobs_cancel",
        request=None,
        responses={
            200: JobSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="job_not_cancelable"),
        },
        tags=["studio"],
    )
    def post(self, request, job_id: int):
        job = jobs.job_cancel(user_id=request.user.pk, job_id=job_id)
        return Response(_rendered(job))


# --- events (SSE)


@csrf_exempt
async def job_events_view(request: HttpRequest, job_id: int):
    """`progress` events as status/progress change, then `done` with the job."""
    if request.method != "GET":
        exc = ApplicationError(
            "Method not allowed.", code="method_not_allowed", status_code=405
        )
        return error_response(exc, headers={"Allow": "GET"})
    try:
        identity = await aauthenticate(request)
        state = await sync_to_async(selectors.job_state)(
            user_id=identity.user_id, job_id=job_id
        )
        if state is None:
            raise JobNotFound()
    except ApplicationError as exc:
        return error_response(exc)

    async def frames():
        last = None
        quiet_since = time.monotonic()
        deadline = time.monotonic() + settings.STUDIO_SSE_MAX_SECONDS
        current = state
        while True:
            if current is None:  # deleted meanwhile
                yield sse.sse_frame("error", {"code": "not_found", "job_id": job_id})
                return
            seen = (current["status"], current["progress"])
            if seen != last:
                last, quiet_since = seen, time.monotonic()
                yield sse.sse_frame(
                    "progress",
                    {"job_id": job_id, "status": seen[0], "progress": seen[1]},
                )
            if current["status"] in TERMINAL:
                job = await sync_to_async(selectors.job_get)(
                    user_id=identity.user_id, job_id=job_id
                )
                yield sse.sse_frame("done", await sync_to_async(_rendered)(job))
                return
            if time.monotonic() > deadline:
                return
            if time.monotonic() - quiet_since > sse.SSE_KEEPALIVE_SECONDS:
                quiet_since = time.monotonic()
                yield sse.SSE_PING
            await asyncio.sleep(settings.STUDIO_SSE_POLL_SECONDS)
            current = await sync_to_async(selectors.job_state)(
                user_id=identity.user_id, job_id=job_id
            )

    response = StreamingHttpResponse(frames(), content_type="text/event-stream")
    return sse.sse_headers(response)


class JobEventsSchemaView(APIView):
    @extend_schema(
        operation_id="ai_jobs_events",
        summary="A job's progress as Server-Sent Events",
        description="`event: progress` (`job_id`, `status`, `progress`) on every "
        "change, then `event: done` whose data is the job (as GET /api/ai/jobs/{id})."
        " `: ping` comments keep idle connections open.",
        responses={
            (200, "text/event-stream"): OpenApiTypes.STR,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["studio"],
    )
    def get(self, request, job_id: int):
        """Schema only: `job_events_view` serves this route."""


job_events = documented(job_events_view, JobEventsSchemaView)


# --- assets


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single `bytes=` range; None = whole file.

    Raises `ApplicationError` 416 when the range cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    unsatisfiable = ApplicationError(
        "Requested range not satisfiable.",
        code="range_not_satisfiable",
        status_code=416,
        details={"size": size},
    )
    if not match or (not match.group(1) and not match.group(2)):
        return None  # a syntactically invalid Range header is ignored (RFC 9110)
    first, last = match.groups()
    if not first:  # suffix range: the last N bytes
        length = int(last)
        if length == 0:
            raise unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise unsatisfiable
    return start, end


async def _owner_allowed(request: HttpRequest, asset) -> None:
    """The owner's credentials, or a valid unexpired signed link; else 403/404."""
    has_credentials = bool(
        request.headers.get("Authorization") or request.headers.get("X-API-Key")
    )
    if has_credentials:
        identity = await aauthenticate(request)
        if identity.user_id != asset.user_id:
            raise JobNotFound("Asset not found.")
        if "signature" not in request.GET:
            return
    query = AssetLinkQuerySerializer(data=request.GET)
    if not query.is_valid():
        if has_credentials:
            raise InvalidInput(details={"fields": query.errors})
        raise JobNotFound("Asset not found.")
    verdict = asset_links.asset_link_check(
        asset_id=asset.pk,
        user_id=asset.user_id,
        expires=query.validated_data["expires"],
        signature=query.validated_data["signature"],
    )
    if verdict == "invalid":
        raise AssetLinkInvalid()
    if verdict == "expired":
        raise AssetLinkExpired()


@csrf_exempt
async def asset_content_view(request: HttpRequest, asset_id: int):
    if request.method not in ("GET", "HEAD"):
        exc = ApplicationError(
            "Method not allowed.", code="method_not_allowed", status_code=405
        )
        return error_response(exc, headers={"Allow": "GET, HEAD"})
    try:
        asset = await sync_to_async(selectors.asset_get)(asset_id=asset_id)
        await _owner_allowed(request, asset)
        size = asset.size_bytes
        wanted = _byte_range(request.headers.get("Range", ""), size)
    except ApplicationError as exc:
        response = error_response(exc)
        if exc.status_code == 416:
            response["Content-Range"] = f"bytes */{asset.size_bytes}"
        return response
    name = asset.file.name
    filename = name.rsplit("/", 1)[-1]
    download = request.GET.get("download") in ("1", "true")
    disposition = f'{"attachment" if download else "inline"}; filename="{filename}"'
    if settings.AWS_STORAGE_BUCKET_NAME:
        # S3-compatible storage serves the bytes (and ranges) itself: hand out a
        # presigned link as short-lived as ours, with the same type and disposition.
        url = await sync_to_async(default_storage.url)(
            name,
            parameters={
                "ResponseContentType": asset.content_type,
                "ResponseContentDisposition": disposition,
            },
            expire=settings.STUDIO_ASSET_URL_SECONDS,
        )
        return HttpResponseRedirect(url)
    start, end = wanted or (0, size - 1)
    length = end - start + 1

    async def body():
        handle = await sync_to_async(default_storage.open)(name, "rb")
        try:
            await sync_to_async(handle.seek)(start)
            remaining = length
            while remaining > 0:
                chunk = await sync_to_async(handle.read)(
                    min(STREAM_CHUNK_BYTES, remaining)
                )
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk
        finally:
            await sync_to_async(handle.close)()

    if request.method == "HEAD":
        response = HttpResponse(status=206 if wanted else 200)
    else:
        response = StreamingHttpResponse(body(), status=206 if wanted else 200)
    response["Content-Type"] = asset.content_type
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=300"
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Disposition"] = disposition
    return response


class AssetContentSchemaView(APIView):
    @extend_schema(
        operation_id="ai_assets_content",
        summary="A generated file (owner only)",
        description="Use the signed `url` / `download_url` a job lists (no header "
        "needed; valid for STUDIO_ASSET_URL_SECONDS), or the owner's credentials. "
        "Supports `Range: bytes=...` (206 + `Content-Range`). With S3-compatible "
        "storage it answers 302 to a presigned link of the same lifetime.",
        parameters=[
            OpenApiParameter("expires", int, required=False),
            OpenApiParameter("signature", str, required=False),
            OpenApiParameter("download", bool, required=False),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
            302: OpenApiResponse(description="S3 storage: a presigned link"),
            403: OpenApiResponse(
                ErrorSerializer, description="invalid_signature, link_expired"
            ),
            404: ErrorSerializer,
            416: OpenApiResponse(ErrorSerializer, description="range_not_satisfiable"),
        },
        tags=["studio"],
        auth=[],
    )
    def get(self, request, asset_id: int):
        """Schema only: `asset_content_view` serves this route."""


asset_content = documented(asset_content_view, AssetContentSchemaView)
