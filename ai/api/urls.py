"""URL routes of the ai API."""

urlpatterns: list = []
