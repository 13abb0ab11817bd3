"""`cancel_checkpoint`: a cancellation swallowed by something awaited on the way
(as third-party code may do) still stops the caller at its next step."""

import asyncio

import pytest

from flowmatik.cancellation import cancel_checkpoint


async def _swallowing_wait(started: asyncio.Event) -> str:
    """Awaits, and returns normally even when cancelled meanwhile."""
    started.set()
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        return "finished anyway"
    return "finished"


async def test_a_swallowed_cancel_stops_at_the_next_checkpoint():
    started = asyncio.Event()
    steps = []

    async def loop() -> None:
        for _ in range(3):
            cancel_checkpoint()
            steps.append(await _swallowing_wait(started))
            started.clear()

    task = asyncio.create_task(loop())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["finished anyway"]  # the step in flight; none after it


async def test_a_task_not_cancelled_passes_every_checkpoint():
    async def loop() -> int:
        for _ in range(3):
            cancel_checkpoint()
            await asyncio.sleep(0)
        return 3

    assert await asyncio.create_task(loop()) == 3
