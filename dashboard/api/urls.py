"""URL routes of the notifications API (`/api/notifications`)."""

urlpatterns: list = []
