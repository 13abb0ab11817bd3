"""Errors of the AI gateway, each with a stable code (rendered by the one handler)."""

from django.utils.translation import gettext_noop

from flowmatik.errors import ApplicationError


class UnknownModel(ApplicationError):
    status_code, code, default_message = (
        400,
        "unknown_model",
        gettext_noop("Unknown model."),
    )


class ModelNotAllowed(ApplicationError):
    status_code = 403
    code = "model_not_allowed"
    default_message = gettext_noop("Your plan does not include this model.")


class ConversationNotFound(ApplicationError):
    status_code, code, default_message = (
        404,
        "not_found",
        gettext_noop("Conversation not found."),
    )


class ProviderError(ApplicationError):
    """The provider answered with an error or broke its stream (502)."""

    status_code = 502
    code = "provider_error"
    default_message = gettext_noop("The AI provider returned an error.")


class ProviderTimeout(ApplicationError):
    status_code = 504
    code = "provider_timeout"
    default_message = gettext_noop("The AI provider did not answer in time.")


class ProviderUnavailable(ApplicationError):
    """Provider not configured, circuit open, unreachable or rate-limiting us (503)."""

    status_code = 503
    code = "provider_unavailable"
    default_message = gettext_noop("The AI provider is unavailable, try again later.")


class JobCanceled(ApplicationError):
    """The job a call ran for was canceled meanwhile: settled as an error, uncharged."""

    status_code, code, default_message = (
        409,
        "job_canceled",
        gettext_noop("The job was canceled."),
    )


class UnknownAgent(ApplicationError):
    status_code, code, default_message = (
        400,
        "unknown_agent",
        gettext_noop("Unknown agent."),
    )


class AgentNotFound(ApplicationError):
    status_code, code, default_message = (
        404,
        "not_found",
        gettext_noop("Agent not found."),
    )


class McpServerNotFound(ApplicationError):
    status_code, code, default_message = (
        404,
        "not_found",
        gettext_noop("Integration not found."),
    )


class PlanFeatureRequired(ApplicationError):
    """The same code as accounts' plan gates: the plan lacks a feature or tier."""

    status_code = 403
    code = "plan_feature_required"
    default_message = gettext_noop("Your plan does not include this feature.")


class JobNotFound(ApplicationError):
    status_code, code, default_message = (
        404,
        "not_found",
        gettext_noop("Job not found."),
    )


class JobNotCancelable(ApplicationError):
    status_code = 409
    code = "job_not_cancelable"
    default_message = gettext_noop("The job has already finished.")


class TooManyJobs(ApplicationError):
    status_code = 429
    code = "too_many_jobs"
    default_message = gettext_noop(
        "Too many jobs are queued or running; wait for one to finish."
    )


class AssetLinkInvalid(ApplicationError):
    status_code, code, default_message = (
        403,
        "invalid_signature",
        gettext_noop("Invalid link."),
    )


class AssetLinkExpired(ApplicationError):
    status_code = 403
    code = "link_expired"
    default_message = gettext_noop(
        "This link has expired; fetch the job again for a new one."
    )


class WorkflowNotFound(ApplicationError):
    status_code, code, default_message = (
        404,
        "not_found",
        gettext_noop("Workflow not found."),
    )
