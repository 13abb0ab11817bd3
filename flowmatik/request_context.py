"""Per-request context (request id, user id), carried by contextvars to log lines."""

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
user_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "user_id", default=None
)


def new_request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def get_request_id() -> str | None:
    return request_id_var.get()


def bind_user(user_id: object) -> None:
    """Attach the authenticated user to the current request's log lines."""
    user_id_var.set(None if user_id is None else str(user_id))
