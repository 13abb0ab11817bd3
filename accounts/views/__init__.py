"""Portal pages of accounts: log in, sign up, passwords, the language switch and
the socket ticket (`auth`), and the settings page (`settings`)."""

from accounts.views.auth import (
    language_switch,
    login_view,
    logout_view,
    password_forgot_view,
    password_reset_confirm_view,
    signup_view,
    ws_ticket,
)
from accounts.views.settings import (
    api_key_create,
    api_key_revoke,
    password_change,
    profile_update,
    settings_page,
)

__all__ = [
    "api_key_create",
    "api_key_revoke",
    "language_switch",
    "login_view",
    "logout_view",
    "password_change",
    "password_forgot_view",
    "password_reset_confirm_view",
    "profile_update",
    "settings_page",
    "signup_view",
    "ws_ticket",
]
