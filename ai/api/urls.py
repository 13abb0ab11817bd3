"""URL routes of the ai API (`/api/ai/...`)."""

from django.urls import path

from ai.api import agent_views, studio_views, views, workflow_views

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
    path(
        "generate-content",
        studio_views.GenerateContentView.as_view(),
        name="ai-generate-content",
    ),
    path("jobs", studio_views.JobListView.as_view(), name="ai-jobs"),
    path("jobs/<int:job_id>", studio_views.JobDetailView.as_view(), name="ai-job"),
    path(
        "jobs/<int:job_id>/cancel",
        studio_views.JobCancelView.as_view(),
        name="ai-job-cancel",
    ),
    path("jobs/<int:job_id>/events", studio_views.job_events, name="ai-job-events"),
    path("workflows", workflow_views.WorkflowListView.as_view(), name="ai-workflows"),
    path(
        "workflows/<int:workflow_id>",
        workflow_views.WorkflowDetailView.as_view(),
        name="ai-workflow",
    ),
    path(
        "workflows/<int:workflow_id>/copy",
        workflow_views.WorkflowCopyView.as_view(),
        name="ai-workflow-copy",
    ),
    path(
        "workflows/<int:workflow_id>/run",
        workflow_views.WorkflowRunView.as_view(),
        name="ai-workflow-run",
    ),
    path(
        "assets/<int:asset_id>/content",
        studio_views.asset_content,
        name="ai-asset-content",
    ),
]
