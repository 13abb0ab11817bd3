"""Image, speech and video calls, and the download of what they produce.

SiliconFlow (and the demo model) answer `/images/generations` with
`{"images": [{"url"}], "seed", "timings"}`, not OpenAI's `data`, so it goes through
the SDK's generic `post`; Doubao (Ark) is OpenAI-shaped (`size`, `data[].url`).
`/audio/speech` answers binary audio. Video is asynchronous: SiliconFlow's
`/video/submit` + `/video/status`, Ark's `/contents/generations/tasks`. Result URLs
expire (images: 1 hour; videos: as little as 10 minutes), so `asset_download` copies
them at once, checking size and content type as it streams.
"""

import hashlib
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import httpx2
import openai
from django.conf import settings

from ai.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from ai.providers.chat import _with_retries
from ai.providers.circuit import circuit_record_success
from ai.providers.registry import client_for
from ai.types import ProviderConfig

DOUBAO = "doubao"
DOWNLOAD_CHUNK_BYTES = 256 * 1024
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class GeneratedImages:
    urls: list[str]
    seed: int | None
    inference_seconds: float | None


@dataclass(frozen=True)
class GeneratedSpeech:
    audio: bytes
    content_type: str


async def image_generate(
    *,
    provider: ProviderConfig,
    model: str,
    prompt: str,
    image_size: str = "1024x1024",
    batch_size: int = 1,
    seed: int | None = None,
    negative_prompt: str = "",
    request_id: str = "",
) -> GeneratedImages:
    """Generate images; the URLs expire (SiliconFlow: 1 hour), so copy them soon."""
    client = client_for(provider)
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    if provider.kind == DOUBAO:
        body.update({"size": image_size, "response_format": "url", "watermark": False})
    else:
        body.update({"image_size": image_size, "batch_size": batch_size})
        if negative_prompt:
            body["negative_prompt"] = negative_prompt
    if seed is not None:
        body["seed"] = seed

    async def call() -> dict[str, Any]:
        return await client.post(
            "/images/generations",
            body=body,
            cast_to=dict,
            options={"headers": {"X-Request-ID": request_id}},
        )

    result, ticket, _started = await _with_retries(provider, request_id, call)
    circuit_record_success(ticket, latency_ms=0)
    images = result.get("images") or result.get("data") or []
    return GeneratedImages(
        urls=[image["url"] for image in images if image.get("url")],
        seed=result.get("seed"),
        inference_seconds=(result.get("timings") or {}).get("inference"),
    )


async def speech_create(
    *,
    provider: ProviderConfig,
    model: str,
    text: str,
    voice: str = "",
    response_format: str = "wav",
    speed: float | None = None,
    request_id: str = "",
) -> GeneratedSpeech:
    """Text to speech; returns the audio bytes."""
    client = client_for(provider)
    body: dict[str, Any] = {
        "model": model,
        "input": text,
        "response_format": response_format,
        "stream": False,
    }
    if voice:
        body["voice"] = voice
    if speed is not None:
        body["speed"] = speed

    async def call() -> httpx2.Response:
        response = await client.post(
            "/audio/speech",
            body=body,
            cast_to=httpx2.Response,
            options={"headers": {"X-Request-ID": request_id}},
        )
        return response

    response, ticket, _started = await _with_retries(provider, request_id, call)
    circuit_record_success(ticket, latency_ms=0)
    return GeneratedSpeech(
        audio=response.content,
        content_type=response.headers.get("content-type", "application/octet-stream"),
    )


@dataclass(frozen=True)
class VideoStatus:
    """A video task's state: `pending`, `succeeded` (with `urls`) or `failed`."""

    state: str
    urls: list[str]
    reason: str = ""
    position: int | None = None


async def video_submit(
    *,
    provider: ProviderConfig,
    model: str,
    prompt: str,
    image_size: str,
    duration: int,
    negative_prompt: str = "",
    seed: int | None = None,
    request_id: str = "",
) -> str:
    """Start a text-to-video task; returns the provider's task id."""
    client = client_for(provider)
    headers: openai.RequestOptions = {"headers": {"X-Request-ID": request_id}}
    if provider.kind == DOUBAO:
        width, _, height = image_size.partition("x")
        ratio = "16:9" if int(width) > int(height) else "9:16"
        ratio = "1:1" if width == height else ratio
        text = f"{prompt} --ratio {ratio} --duration {duration}"
        body: dict[str, Any] = {
            "model": model,
            "content": [{"type": "text", "text": text}],
        }
        path = "/contents/generations/tasks"
    else:
        body = {"model": model, "prompt": prompt, "image_size": image_size}
        if negative_prompt:
            body["negative_prompt"] = negative_prompt
        path = "/video/submit"
    if seed is not None:
        body["seed"] = seed

    async def call() -> dict[str, Any]:
        return await client.post(path, body=body, cast_to=dict, options=headers)

    result, ticket, _started = await _with_retries(provider, request_id, call)
    circuit_record_success(ticket, latency_ms=0)
    task_id = result.get("id") if provider.kind == DOUBAO else result.get("requestId")
    if not task_id:
        raise ProviderError(
            "The AI provider did not return a video task.",
            details={"provider": provider.name},
        )
    return str(task_id)


_ARK_STATES = {"succeeded": "succeeded", "failed": "failed", "cancelled": "failed"}
_SF_STATES = {"Succeed": "succeeded", "Failed": "failed"}


async def video_status(
    *, provider: ProviderConfig, task_id: str, request_id: str = ""
) -> VideoStatus:
    """Where a video task is (one status call, no waiting)."""
    client = client_for(provider)
    headers: openai.RequestOptions = {"headers": {"X-Request-ID": request_id}}

    async def call() -> dict[str, Any]:
        if provider.kind == DOUBAO:
            return await client.get(
                f"/contents/generations/tasks/{task_id}", cast_to=dict, options=headers
            )
        return await client.post(
            "/video/status",
            body={"requestId": task_id},
            cast_to=dict,
            options=headers,
        )

    result, ticket, _started = await _with_retries(provider, request_id, call)
    circuit_record_success(ticket, latency_ms=0)
    if provider.kind == DOUBAO:
        state = _ARK_STATES.get(str(result.get("status")), "pending")
        url = (result.get("content") or {}).get("video_url")
        reason = str((result.get("error") or {}).get("message") or "")
        return VideoStatus(state, [url] if url else [], reason[:300])
    state = _SF_STATES.get(str(result.get("status")), "pending")
    videos = ((result.get("results") or {}).get("videos")) or []
    return VideoStatus(
        state,
        [v["url"] for v in videos if isinstance(v, dict) and v.get("url")],
        str(result.get("reason") or "")[:300],
        result.get("position"),
    )


@dataclass
class DownloadedFile:
    """A downloaded file, spooled to disk past SPOOL_BYTES; the caller closes it."""

    file: IO[bytes]
    size: int
    sha256: str
    content_type: str


def _download_error(message: str, code: str, url_host: str) -> ProviderError:
    return ProviderError(message, code=code, details={"host": url_host})


async def asset_download(
    *, url: str, max_bytes: int, content_types: tuple[str, ...]
) -> DownloadedFile:
    """Fetch a generated file: its type must start with one of `content_types`
    (e.g. `image/`) and it may not exceed `max_bytes` (checked while streaming)."""
    host = httpx2.URL(url).host
    if httpx2.URL(url).scheme not in ("http", "https"):
        raise _download_error(
            "The provider returned a bad file URL.", "asset_invalid", host
        )
    timeout = httpx2.Timeout(
        settings.STUDIO_DOWNLOAD_TIMEOUT_SECONDS,
        connect=settings.AI_CONNECT_TIMEOUT_SECONDS,
    )
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    digest = hashlib.sha256()
    size = 0
    try:
        async with (
            httpx2.AsyncClient(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code == 404 or response.status_code == 410:
                raise _download_error(
                    "The generated file expired before it was copied.",
                    "asset_expired",
                    host,
                )
            if response.status_code >= 400:
                raise ProviderUnavailable(
                    "The generated file could not be downloaded.",
                    details={"host": host, "upstream_status": response.status_code},
                )
            content_type = (
                response.headers.get("content-type", "").split(";")[0].strip()
            ).lower()
            if not content_type.startswith(content_types):
                raise _download_error(
                    "The provider returned a file of an unexpected type.",
                    "asset_invalid_type",
                    host,
                )
            declared = int(response.headers.get("content-length") or 0)
            if declared > max_bytes:
                raise _download_error(
                    "The generated file is larger than allowed.",
                    "asset_too_large",
                    host,
                )
            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise _download_error(
                        "The generated file is larger than allowed.",
                        "asset_too_large",
                        host,
                    )
                digest.update(chunk)
                spool.write(chunk)
    except httpx2.TimeoutException as exc:
        spool.close()
        raise ProviderTimeout(
            "Downloading the generated file timed out.", details={"host": host}
        ) from exc
    except httpx2.TransportError as exc:
        spool.close()
        raise ProviderUnavailable(
            "The generated file could not be downloaded.", details={"host": host}
        ) from exc
    except BaseException:
        spool.close()
        raise
    if size == 0:
        spool.close()
        raise _download_error("The generated file is empty.", "asset_invalid", host)
    spool.seek(0)
    return DownloadedFile(spool, size, digest.hexdigest(), content_type)
