"""Immediate (not queued) media calls: images and speech for `/v1`.

One place for what both OpenAI-compatible media endpoints do: the plan gate
(before any provider call), the model's resolution from the catalogue, and the
provider call metered like the content studio's (one request admitted, priced per
unit from the catalogue, settled once, nothing charged on failure).
"""

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from django.conf import settings

from ai import selectors
from ai.errors import PlanFeatureRequired
from ai.models import Modality
from ai.providers import media as media_provider
from ai.services.chat import plan_for_user
from ai.services.jobs import size_check
from ai.services.studio import MeteredResult, media_call_metered
from ai.types import ModelInfo, ProviderConfig
from flowmatik.errors import ApplicationError

IMAGES_ENDPOINT = "openai.images"
SPEECH_ENDPOINT = "openai.speech"

T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the metering needs it."""

    user_id: int
    request_id: str
    api_key_id: int | None = None
    ip: str | None = None


async def media_model_resolve(
    *, user_id: int, feature: str, modality: str, model_id: str | None
) -> tuple[ModelInfo, ProviderConfig]:
    """The plan gate (403 `plan_feature_required`), then the model and its
    provider (400 `unknown_model`, 403 `model_not_allowed`)."""
    plan = await plan_for_user(user_id)
    if feature not in plan.features:
        raise PlanFeatureRequired(
            f"Your plan does not include {feature}.", details={"feature": feature}
        )
    catalogue = await selectors.acatalogue_get()
    info = selectors.model_resolve(
        catalogue,
        model_id=model_id,
        plan_slug=plan.slug,
        plan_rank=plan.sort_order,
        modality=modality,
    )
    return info, catalogue.providers[info.provider]


async def _caller_metered(
    *,
    caller: Caller,
    model: ModelInfo,
    endpoint: str,
    call: Callable[[], Awaitable[T]],
    units_of: Callable[[T], Decimal | int],
) -> MeteredResult:
    """`call()` metered for `caller` on `endpoint` (`media_call_metered`)."""
    return await media_call_metered(
        user_id=caller.user_id,
        model=model,
        endpoint=endpoint,
        request_id=caller.request_id,
        call=call,
        units_of=units_of,
        api_key_id=caller.api_key_id,
        ip=caller.ip,
    )


async def images_generate_metered(
    *,
    caller: Caller,
    model_id: str | None,
    prompt: str,
    count: int,
    size: str | None,
    seed: int | None = None,
    negative_prompt: str = "",
    inline: bool = False,
) -> MeteredResult:
    """`count` images; `value` is `[{"url"}]`, or `[{"b64_json"}]` when `inline`
    (each downloaded and checked first). Metered per image."""
    info, provider = await media_model_resolve(
        user_id=caller.user_id,
        feature="images",
        modality=Modality.IMAGE,
        model_id=model_id,
    )
    image_size = size_check(model=info, size=size)

    async def call() -> list[dict[str, str]]:
        made = await media_provider.image_generate(
            provider=provider,
            model=info.upstream_name,
            prompt=prompt,
            image_size=image_size,
            batch_size=count,
            seed=seed,
            negative_prompt=negative_prompt,
            request_id=caller.request_id,
        )
        urls = made.urls[:count]
        if not urls:
            raise ApplicationError(
                "The provider returned no image.",
                code="provider_error",
                status_code=502,
            )
        if not inline:
            return [{"url": url} for url in urls]
        images = []
        for url in urls:
            download = await media_provider.asset_download(
                url=url,
                max_bytes=settings.STUDIO_IMAGE_MAX_BYTES,
                content_types=("image/",),
            )
            try:
                data = base64.b64encode(download.file.read()).decode()
            finally:
                download.file.close()
            images.append({"b64_json": data})
        return images

    return await _caller_metered(
        caller=caller, model=info, endpoint=IMAGES_ENDPOINT, call=call, units_of=len
    )


async def speech_create_metered(
    *,
    caller: Caller,
    model_id: str | None,
    text: str,
    voice: str = "",
    response_format: str = "mp3",
    speed: float | None = None,
) -> MeteredResult:
    """`text` read aloud; `value` is the provider's `GeneratedSpeech` (at most
    STUDIO_AUDIO_MAX_BYTES). Metered per the model's unit (UTF-8 bytes of the
    text, or one per call)."""
    info, provider = await media_model_resolve(
        user_id=caller.user_id,
        feature="audio",
        modality=Modality.AUDIO,
        model_id=model_id,
    )

    async def call() -> media_provider.GeneratedSpeech:
        speech = await media_provider.speech_create(
            provider=provider,
            model=info.upstream_name,
            text=text,
            voice=voice,
            response_format=response_format,
            speed=speed,
            request_id=caller.request_id,
        )
        if len(speech.audio) > settings.STUDIO_AUDIO_MAX_BYTES:
            raise ApplicationError(
                "The generated audio is larger than allowed.",
                code="asset_too_large",
                status_code=502,
            )
        return speech

    def units_of(speech: media_provider.GeneratedSpeech) -> int:
        return len(text.encode()) if info.price_unit == "1M_utf8_bytes" else 1

    return await _caller_metered(
        caller=caller,
        model=info,
        endpoint=SPEECH_ENDPOINT,
        call=call,
        units_of=units_of,
    )
