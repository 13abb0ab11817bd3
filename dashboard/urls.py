"""Portal routes: the landing page, pricing and the staff pages (`/staff/`)."""

from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.home, name="home"),
    path("pricing/", views.pricing, name="pricing"),
    path("staff/", views.staff_dashboard, name="staff"),
    path("staff/users/", views.staff_users, name="staff_users"),
    path("staff/webhooks/", views.staff_webhooks, name="staff_webhooks"),
    path(
        "staff/webhooks/retry/", views.staff_webhook_retry, name="staff_webhook_retry"
    ),
    path("staff/notify/", views.staff_notify, name="staff_notify"),
]
