"""A web worker freezes its start-up heap when the ASGI lifespan starts it."""

import asyncio
import gc

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def _frozen_once_started(check=None) -> int:
    """Start and stop `flowmatik.asgi.application` by the lifespan protocol, as
    uvicorn does; how many objects were frozen once it said it had started
    (`check()` runs then, before anything is unfrozen)."""
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
        if check is not None:
            check()
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


async def test_the_url_conf_and_its_views_are_loaded_and_frozen_at_start_up():
    """What the first request would import (the URLconf, every view module) is
    loaded before the freeze: the full collections never walk it."""
    from django.urls import clear_url_caches, get_resolver

    clear_url_caches()  # as in a new worker: no URLconf loaded yet
    seen = {}

    def check() -> None:
        resolver = get_resolver()
        seen["populated"] = resolver._populated
        patterns = resolver.__dict__.get("url_patterns")
        tracked = {id(o) for o in gc.get_objects()}  # frozen objects are not listed
        seen["patterns_frozen"] = patterns is not None and id(patterns) not in tracked

    await _frozen_once_started(check)
    assert seen == {"populated": True, "patterns_frozen": True}
