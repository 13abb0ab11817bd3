"""URL routes of the webhooks_app API."""

urlpatterns: list = []
