"""URL routes of the billing API."""

urlpatterns: list = []
