"""Account errors: stable codes the API and the portal render."""

from django.utils.translation import gettext_noop

from flowmatik.errors import ApplicationError


class InvalidCredentials(ApplicationError):
    """One answer for an unknown e-mail, a wrong password and an inactive account."""

    status_code = 401
    code = "invalid_credentials"
    default_message = gettext_noop("The e-mail or password is incorrect.")


class AccountLocked(ApplicationError):
    status_code = 429
    code = "account_locked"
    default_message = gettext_noop("Too many failed log-in attempts. Try again later.")


class EmailTaken(ApplicationError):
    status_code = 409
    code = "email_taken"
    default_message = gettext_noop("An account with this e-mail already exists.")


class InvalidToken(ApplicationError):
    status_code = 401
    code = "invalid_token"
    default_message = gettext_noop("The token is invalid, expired or already used.")


class InvalidResetLink(ApplicationError):
    status_code = 400
    code = "invalid_reset_token"
    default_message = gettext_noop(
        "The password reset link is invalid, expired or already used."
    )


class WrongPassword(ApplicationError):
    status_code = 400
    code = "wrong_password"
    default_message = gettext_noop("The current password is incorrect.")


class PasswordRejected(ApplicationError):
    """Django's password validators refused the new password."""

    status_code = 400
    code = "invalid_password"
    default_message = gettext_noop("The password does not meet the requirements.")


class PlanFeatureRequired(ApplicationError):
    status_code = 403
    code = "plan_feature_required"
    default_message = gettext_noop("Your plan does not include this feature.")


class PremiumRequired(ApplicationError):
    status_code = 403
    code = "premium_required"
    default_message = gettext_noop("This needs a paid plan.")


class AdminRequired(ApplicationError):
    status_code = 403
    code = "admin_required"
    default_message = gettext_noop("This needs an administrator.")
