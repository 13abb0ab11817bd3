"""URL routes of the OpenAI-compatible API (`/v1/...`)."""

from django.urls import path

from ai.api import openai_views

urlpatterns = [
    path("chat/completions", openai_views.chat_completions, name="openai-chat"),
    path("models", openai_views.models, name="openai-models"),
]
