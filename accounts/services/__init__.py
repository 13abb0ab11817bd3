"""Account writes (`<entity>_<verb>(*, ...)`), one module per concern.

Everything is re-exported here, so callers use `accounts.services.<name>`.
"""

from accounts.services.api_keys import (
    API_FEATURE,
    CreatedApiKey,
    api_key_create,
    api_key_revoke,
)
from accounts.services.passwords import (
    password_changed_email_send,
    password_reset_check,
    password_reset_confirm,
    password_reset_email_send,
    password_reset_link,
    password_reset_request,
    password_set_by_staff,
    user_password_change,
)
from accounts.services.users import (
    PROFILE_FIELDS,
    lockout_retry_after,
    user_admin_saved,
    user_authenticate,
    user_deactivate,
    user_logout,
    user_profile_update,
    user_reactivate,
    user_register,
    user_session_logged_out,
    user_staff_set,
    user_token_login,
)
from accounts.services.ws_tickets import (
    TicketHolder,
    ws_session_tag,
    ws_ticket_mint,
    ws_ticket_redeem,
)

__all__ = [
    "API_FEATURE",
    "PROFILE_FIELDS",
    "CreatedApiKey",
    "TicketHolder",
    "api_key_create",
    "api_key_revoke",
    "lockout_retry_after",
    "password_changed_email_send",
    "password_reset_check",
    "password_reset_confirm",
    "password_reset_email_send",
    "password_reset_link",
    "password_reset_request",
    "password_set_by_staff",
    "user_authenticate",
    "user_deactivate",
    "user_logout",
    "user_session_logged_out",
    "user_password_change",
    "user_profile_update",
    "user_reactivate",
    "user_register",
    "user_admin_saved",
    "user_staff_set",
    "user_token_login",
    "ws_session_tag",
    "ws_ticket_mint",
    "ws_ticket_redeem",
]
