"""OpenAI-compatible media endpoints: `/v1/images/generations`, `/v1/audio/speech`,
`/v1/models/{id}`, for API keys (any OpenAI SDK calls them).

Same gates (plan features `images` / `audio`, checked before any provider call)
and the same metering as the content studio (`ai.services.studio_media`): each
call counts one request and is priced per unit from the catalogue. Errors use
OpenAI's shape.
"""

import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.authentication import aauthenticate
from ai import selectors, services
from ai.api.openai_views import MODEL_CREATED
from ai.api.openai_views import _error as openai_error
from ai.api.schema import documented
from ai.api.serializers import OpenAIErrorSerializer, OpenAIModelSerializer
from ai.errors import UnknownModel
from ai.services import studio_media
from flowmatik.client_ip import client_ip
from flowmatik.errors import ApplicationError
from flowmatik.parsers import parse_body

SPEECH_FORMATS = ("mp3", "wav", "opus", "pcm")


class ImageGenerationInputSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    prompt = serializers.CharField()
    n = serializers.IntegerField(min_value=1, max_value=4, default=1)
    size = serializers.RegexField(r"^\d{2,4}x\d{2,4}$", required=False)
    response_format = serializers.ChoiceField(["url", "b64_json"], default="url")
    negative_prompt = serializers.CharField(max_length=1000, required=False)
    seed = serializers.IntegerField(
        min_value=0, max_value=9_999_999_999, required=False
    )
    user = serializers.CharField(max_length=200, required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["prompt"] = serializers.CharField(
            max_length=settings.STUDIO_MAX_PROMPT_CHARS
        )
        return fields


class ImageDataSerializer(serializers.Serializer):
    url = serializers.CharField(required=False, help_text="Valid about one hour.")
    b64_json = serializers.CharField(required=False)


class ImageGenerationOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    data = ImageDataSerializer(many=True)


class SpeechInputSerializer(serializers.Serializer):
    model = serializers.CharField(max_length=150, required=False, allow_blank=True)
    input = serializers.CharField()
    voice = serializers.RegexField(r"^[\w.:/-]{1,150}$", required=False)
    response_format = serializers.ChoiceField(SPEECH_FORMATS, default="mp3")
    speed = serializers.FloatField(min_value=0.25, max_value=4.0, required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["input"] = serializers.CharField(
            max_length=settings.STUDIO_TTS_MAX_CHARS
        )
        return fields


def _method_not_allowed(allowed: str) -> JsonResponse:
    exc = ApplicationError(
        "Method not allowed.", code="method_not_allowed", status_code=405
    )
    response = openai_error(exc)
    response["Allow"] = allowed
    return response


def _caller(request: HttpRequest, identity) -> studio_media.Caller:
    return studio_media.Caller(
        user_id=identity.user_id,
        request_id=request.request_id,
        api_key_id=identity.api_key_id,
        ip=client_ip(request) or None,
    )


@csrf_exempt
async def images_generations_view(request: HttpRequest):
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        identity = await aauthenticate(request)
        data = parse_body(request, ImageGenerationInputSerializer)
        metered = await studio_media.images_generate_metered(
            caller=_caller(request, identity),
            model_id=data.get("model") or None,
            prompt=data["prompt"],
            count=data["n"],
            size=data.get("size"),
            seed=data.get("seed"),
            negative_prompt=data.get("negative_prompt", ""),
            inline=data["response_format"] == "b64_json",
        )
    except ApplicationError as exc:
        return openai_error(exc)
    return JsonResponse({"created": int(time.time()), "data": metered.value})


@csrf_exempt
async def audio_speech_view(request: HttpRequest):
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        identity = await aauthenticate(request)
        data = parse_body(request, SpeechInputSerializer)
        metered = await studio_media.speech_create_metered(
            caller=_caller(request, identity),
            model_id=data.get("model") or None,
            text=data["input"],
            voice=data.get("voice", ""),
            response_format=data["response_format"],
            speed=data.get("speed"),
        )
    except ApplicationError as exc:
        return openai_error(exc)
    speech = metered.value
    return HttpResponse(speech.audio, content_type=speech.content_type)


@csrf_exempt
async def model_retrieve_view(request: HttpRequest, model_id: str):
    if request.method != "GET":
        return _method_not_allowed("GET")
    try:
        identity = await aauthenticate(request)
        plan = await services.plan_for_user(identity.user_id)
        catalogue = await selectors.acatalogue_get()
        usable = {
            m.model_id: m
            for m in selectors.models_for_plan(
                catalogue, plan_slug=plan.slug, plan_rank=plan.sort_order
            )
        }
        info = usable.get(model_id)
        if info is None:  # unknown, or not in the caller's plan: OpenAI says 404
            raise UnknownModel(
                f"The model `{model_id}` does not exist or you do not have access "
                "to it.",
                code="model_not_found",
                status_code=404,
            )
    except ApplicationError as exc:
        return openai_error(exc)
    return JsonResponse(
        {
            "id": info.model_id,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": info.provider,
        }
    )


_ERRORS = {
    400: OpenAIErrorSerializer,
    401: OpenAIErrorSerializer,
    403: OpenApiResponse(
        OpenAIErrorSerializer, description="plan_feature_required, model_not_allowed"
    ),
    429: OpenAIErrorSerializer,
    502: OpenAIErrorSerializer,
    503: OpenAIErrorSerializer,
    504: OpenAIErrorSerializer,
}


class ImagesSchemaView(APIView):
    @extend_schema(
        operation_id="openai_images_generations",
        summary="OpenAI-compatible image generation",
        description="For API keys; needs the `images` plan feature. `url` results "
        "are the provider's links (valid about an hour, as OpenAI's); `b64_json` "
        "results are downloaded and checked first. Metered per image.",
        request=ImageGenerationInputSerializer,
        responses={200: ImageGenerationOutputSerializer, **_ERRORS},
        tags=["openai-compatible"],
    )
    def post(self, request):
        """Schema only: `images_generations_view` serves this route."""


class SpeechSchemaView(APIView):
    @extend_schema(
        operation_id="openai_audio_speech",
        summary="OpenAI-compatible text to speech",
        description="For API keys; needs the `audio` plan feature (Pro). Answers "
        "the audio bytes. Metered per the model's unit (UTF-8 bytes of input).",
        request=SpeechInputSerializer,
        responses={(200, "audio/*"): OpenApiTypes.BINARY, **_ERRORS},
        tags=["openai-compatible"],
    )
    def post(self, request):
        """Schema only: `audio_speech_view` serves this route."""


class ModelRetrieveSchemaView(APIView):
    @extend_schema(
        operation_id="openai_models_retrieve",
        summary="OpenAI-compatible model lookup",
        description="A model the key owner's plan may use; 404 `model_not_found` "
        "otherwise.",
        responses={
            200: OpenAIModelSerializer,
            401: OpenAIErrorSerializer,
            404: OpenAIErrorSerializer,
        },
        tags=["openai-compatible"],
    )
    def get(self, request, model_id: str):
        """Schema only: `model_retrieve_view` serves this route."""


images_generations = documented(images_generations_view, ImagesSchemaView)
audio_speech = documented(audio_speech_view, SpeechSchemaView)
model_retrieve = documented(model_retrieve_view, ModelRetrieveSchemaView)
