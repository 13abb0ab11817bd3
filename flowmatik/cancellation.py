"""A cancellation that was swallowed on the way still stops the next step.

A task cancelled while it awaits `sync_to_async` may not see the `CancelledError`:
asgiref lets the running sync function finish and, in some paths (the function
called back into async code), hands back its result as if nothing had happened.
A multi-step caller (the ReasoningEngine's steps, an agent's tool loop, the
provider call after admission) would then go on to its next model call after the
client left or pressed stop. The request is still counted by the task
(`Task.cancelling()`), so these callers pass a checkpoint before each step.
"""

import asyncio


def cancel_checkpoint() -> None:
    """Raise `CancelledError` if the current task was asked to stop (even if the
    request was swallowed by something it awaited since)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
