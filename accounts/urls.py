"""Portal routes for accounts (server-rendered, Django sessions)."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("signup/", views.signup_view, name="signup"),
    path("logout/", views.logout_view, name="logout"),
    path("language/", views.language_switch, name="language_switch"),
    path("app/ws-ticket/", views.ws_ticket, name="ws_ticket"),
    path("app/settings/", views.settings_page, name="settings"),
    path("app/settings/profile/", views.profile_update, name="profile_update"),
    path("app/settings/password/", views.password_change, name="password_change"),
    path("app/settings/api-keys/", views.api_key_create, name="api_key_create"),
    path(
        "app/settings/api-keys/<int:api_key_id>/revoke/",
        views.api_key_revoke,
        name="api_key_revoke",
    ),
    path("password/forgot/", views.password_forgot_view, name="password_forgot"),
    path(
        "password/reset/<uidb64>/<token>/",
        views.password_reset_confirm_view,
        name="password_reset_confirm",
    ),
]
