"""URL routes of the ai API (`/api/ai/...`)."""

from django.urls import path

from ai.api import views

urlpatterns = [
    path("chat", views.chat, name="ai-chat"),
    path(
        "conversations",
        views.ConversationListView.as_view(),
        name="ai-conversations",
    ),
    path(
        "conversations/<int:conversation_id>",
        views.ConversationDetailView.as_view(),
        name="ai-conversation",
    ),
    path("models", views.ModelListView.as_view(), name="ai-models"),
    path("status", views.StatusView.as_view(), name="ai-status"),
]
