"""URL routes of the notifications API (`/api/notifications`)."""

from django.urls import include, path

from notifications.api.views import NotificationListApi, NotificationReadApi

urlpatterns = [
    path("", NotificationListApi.as_view(), name="notifications-list"),
    # The include prefix has no trailing slash (the list is `/api/notifications`);
    # sub-routes hang under "/" so that no route starts with one (urls.W002).
    path(
        "/",
        include(
            [path("read", NotificationReadApi.as_view(), name="notifications-read")]
        ),
    ),
]
