"""URL routes of the OpenAI-compatible API (`/v1/...`)."""

from django.urls import path

from ai.api import openai_media_views, openai_views

urlpatterns = [
    path("chat/completions", openai_views.chat_completions, name="openai-chat"),
    path("models", openai_views.models, name="openai-models"),
    path(
        "models/<path:model_id>",
        openai_media_views.model_retrieve,
        name="openai-model",
    ),
    path(
        "images/generations",
        openai_media_views.images_generations,
        name="openai-images",
    ),
    path("audio/speech", openai_media_views.audio_speech, name="openai-speech"),
]
