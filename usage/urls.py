"""Portal route of usage (mounted at /app/usage/)."""

from django.urls import path

from usage import views

app_name = "usage"
urlpatterns = [path("", views.usage_page, name="page")]
