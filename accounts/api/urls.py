"""URL routes of the accounts API (mounted at /api/auth/)."""

from django.urls import path

from accounts.api import views

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="auth-register"),
    path("login", views.LoginView.as_view(), name="auth-login"),
    path("refresh", views.RefreshView.as_view(), name="auth-refresh"),
    path("logout", views.LogoutView.as_view(), name="auth-logout"),
    path("me", views.MeView.as_view(), name="auth-me"),
    path("profile", views.ProfileView.as_view(), name="auth-profile"),
    path(
        "change-password",
        views.ChangePasswordView.as_view(),
        name="auth-change-password",
    ),
    path(
        "forgot-password",
        views.ForgotPasswordView.as_view(),
        name="auth-forgot-password",
    ),
    path(
        "reset-password", views.ResetPasswordView.as_view(), name="auth-reset-password"
    ),
    path("api-keys", views.ApiKeyListCreateView.as_view(), name="auth-api-keys"),
    path(
        "api-keys/<int:api_key_id>",
        views.ApiKeyDetailView.as_view(),
        name="auth-api-key-detail",
    ),
]
