"""Run a periodic task the way Celery beat finds it: through the beat schedule."""

from typing import Any


def beat_run(task_name: str) -> Any:
    """Run the beat entry naming `task_name` now (inline) and return its result.

    Fails when no entry names the task, or the task is not registered: what a
    worker would report when beat sends it.
    """
    from flowmatik.celery import app

    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == task_name]
    if not entries:
        raise AssertionError(f"{task_name} is not on the beat schedule")
    entry = entries[0]
    if entry["task"] not in app.tasks:
        raise AssertionError(f"{task_name} is on the beat schedule but not registered")
    task = app.tasks[entry["task"]]
    return task.apply(
        args=entry.get("args") or (), kwargs=entry.get("kwargs") or {}
    ).get()
