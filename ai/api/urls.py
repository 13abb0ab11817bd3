"""URL routes of the ai API (`/api/ai/...`)."""

from django.urls import path

from ai.api import agent_views, views

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
    path("agents", agent_views.AgentListView.as_view(), name="ai-agents"),
    path("agents/<slug:slug>", agent_views.AgentDetailView.as_view(), name="ai-agent"),
    path("tools", agent_views.ToolListView.as_view(), name="ai-tools"),
    path(
        "integrations",
        agent_views.IntegrationListView.as_view(),
        name="ai-integrations",
    ),
    path(
        "integrations/<slug:slug>",
        agent_views.IntegrationDetailView.as_view(),
        name="ai-integration",
    ),
]
