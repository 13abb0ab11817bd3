"""The request id (and user id) travel with every Celery task into its log lines.

Publishing a task copies the current `requestId`/`userId` into the message headers;
the worker binds them before the task runs and unbinds them after, so the task's own
lines and Celery's lines about it carry the id of the request that caused it. A task
with no originating request (beat, a shell) gets `task_<task id>` as its request id.
"""

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from flowmatik.request_context import request_id_var, user_id_var

REQUEST_ID_HEADER = "flowmatik_request_id"
USER_ID_HEADER = "flowmatik_user_id"

_tokens: dict[str, tuple[Any, Any]] = {}


@before_task_publish.connect(weak=False)
def _attach_request_context(headers: dict | None = None, **_: Any) -> None:
    if headers is None:
        return
    request_id = request_id_var.get()
    if request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id
    user_id = user_id_var.get()
    if user_id and USER_ID_HEADER not in headers:
        headers[USER_ID_HEADER] = user_id


@task_prerun.connect(weak=False)
def _bind_request_context(task_id: str = "", task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    # An eager task runs inside its caller: it keeps the caller's ids.
    request_id = (
        getattr(request, REQUEST_ID_HEADER, None)
        or request_id_var.get()
        or f"task_{task_id}"
    )
    user_id = getattr(request, USER_ID_HEADER, None) or user_id_var.get()
    _tokens[task_id] = (request_id_var.set(request_id), user_id_var.set(user_id))


@task_postrun.connect(weak=False)
def _unbind_request_context(task_id: str = "", **_: Any) -> None:
    tokens = _tokens.pop(task_id, None)
    if tokens is None:
        return
    request_token, user_token = tokens
    try:
        request_id_var.reset(request_token)
        user_id_var.reset(user_token)
    except ValueError:  # set in another context (eager run across threads)
        request_id_var.set(None)
        user_id_var.set(None)
