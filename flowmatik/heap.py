"""A web worker's start-up heap, frozen once it is built: the cyclic garbage collector
never walks those objects again.

A worker holds a few hundred thousand objects made at start-up (Django, the apps,
the SDKs' models), and each full collection walked them all: 100-480 ms with the
event loop stopped, every stream's next chunk waiting (make bench's 200 streams at
50 chunks/s measured gaps of that length, each at a full collection). Objects made
at start-up live as long as the process; `gc.freeze()` moves them out of the
collector's generations, so a full collection walks only what requests made since.
"""

import gc

from django.conf import settings


def heap_freeze() -> int:
    """Collect once, then freeze what is left (`GC_FREEZE_AT_STARTUP`); returns how
    many objects were frozen (0 when the setting is off)."""
    if not settings.GC_FREEZE_AT_STARTUP:
        return 0
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
