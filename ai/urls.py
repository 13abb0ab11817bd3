"""Portal routes of the ai app: chat and content studio (mounted at /app/).

Ids are 1 to 18 digits, so a bad or overlong id is a 404 page, never a database
overflow."""

from django.urls import path, re_path

from ai import views

app_name = "ai"
ID = r"(?P<{}>[0-9]{{1,18}})"
urlpatterns = [
    path("chat/", views.chat_page, name="chat"),
    path("chat/quota/", views.chat_quota, name="chat-quota"),
    path("chat/send/", views.chat_send, name="chat-send"),
    re_path(
        rf"^chat/{ID.format('conversation_id')}/$", views.chat_page, name="conversation"
    ),
    re_path(
        rf"^chat/{ID.format('conversation_id')}/rename/$",
        views.chat_rename,
        name="conversation-rename",
    ),
    re_path(
        rf"^chat/{ID.format('conversation_id')}/delete/$",
        views.chat_delete,
        name="conversation-delete",
    ),
    re_path(
        rf"^chat/{ID.format('conversation_id')}/messages/{ID.format('message_id')}/$",
        views.chat_message,
        name="message",
    ),
    path("studio/", views.studio_page, name="studio"),
    re_path(rf"^studio/jobs/{ID.format('job_id')}/$", views.job_page, name="job"),
    re_path(
        rf"^studio/jobs/{ID.format('job_id')}/panel/$",
        views.job_panel,
        name="job-panel",
    ),
    re_path(
        rf"^studio/jobs/{ID.format('job_id')}/cancel/$",
        views.job_cancel,
        name="job-cancel",
    ),
]
