"""A web worker freezes its start-up heap when the ASGI lifespan starts it."""

import asyncio
import gc

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def _frozen_once_started() -> int:
    """Start and stop `flowmatik.asgi.application` by the lifespan protocol, as
    uvicorn does; how many objects were frozen once it said it had started."""
    from flowmatik.asgi import application

    inbox: asyncio.Queue = asyncio.Queue()
    started = asyncio.Event()

    async def send(message: dict) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    gc.unfreeze()
    task = asyncio.create_task(
        application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    )
    try:
        await inbox.put({"type": "lifespan.startup"})
        await asyncio.wait_for(started.wait(), 30)
        frozen = gc.get_freeze_count()
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)
    finally:
        gc.unfreeze()  # the test process's heap stays as it was
    return frozen


async def test_a_started_worker_has_frozen_its_start_up_heap():
    assert await _frozen_once_started() > 10_000


async def test_the_heap_is_left_alone_when_freezing_is_off(settings):
    settings.GC_FREEZE_AT_STARTUP = False
    assert await _frozen_once_started() == 0
