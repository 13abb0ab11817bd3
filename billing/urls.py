"""Portal routes of billing (mounted at /billing/)."""

from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("", views.billing_page, name="page"),
    path("subscribe/<str:provider>/", views.subscribe, name="subscribe"),
    path("change-plan/", views.change_plan, name="change_plan"),
    path("cancel/", views.cancel, name="cancel"),
    path("resume/", views.resume, name="resume"),
    path("portal/", views.portal, name="portal"),
]
