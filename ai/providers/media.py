"""Image and speech calls in SiliconFlow's shape (also what the demo model speaks).

SiliconFlow's `/images/generations` answers `{"images": [{"url"}], "seed", "timings"}`,
not OpenAI's `data`, so it goes through the SDK's generic `post`; `/audio/speech`
answers binary audio.
"""

from dataclasses import dataclass
from typing import Any

import httpx2

from ai.providers.chat import _with_retries
from ai.providers.circuit import circuit_record_success
from ai.providers.registry import client_for
from ai.types import ProviderConfig


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
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "image_size": image_size,
        "batch_size": batch_size,
    }
    if seed is not None:
        body["seed"] = seed
    if negative_prompt:
        body["negative_prompt"] = negative_prompt

    async def call():
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
    request_id: str = "",
) -> GeneratedSpeech:
    """Text to speech; returns the audio bytes."""
    client = client_for(provider)
    body = {"model": model, "input": text, "response_format": response_format}
    if voice:
        body["voice"] = voice

    async def call():
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
