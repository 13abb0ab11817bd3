"""URL routes of the usage API."""

urlpatterns: list = []
