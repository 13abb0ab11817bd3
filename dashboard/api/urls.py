"""URL routes of the notifications API (`/api/notifications`)."""

from django.urls import path

from dashboard.api.views import NotificationListApi, NotificationReadApi

urlpatterns = [
    path("", NotificationListApi.as_view(), name="notifications-list"),
    path("/read", NotificationReadApi.as_view(), name="notifications-read"),
]
