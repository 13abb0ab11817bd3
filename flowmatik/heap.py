"""A web worker's start-up heap, frozen once it is built: the cyclic garbage collector
never walks those objects again.

A worker holds a few hundred thousand objects made at start-up (Django, the apps,
the SDKs' models), and each full collection walked them all: 100-480 ms with the
event loop stopped, every stream's next chunk waiting (make bench's 200 streams at
50 chunks/s measured gaps of that length, each at a full collection). Objects made
at start-up live as long as the process; `gc.freeze()` moves them out of the
collector's generations, so a full collection walks only what requests made since.

The URLconf is loaded first: Django imports it, and through it every view, service
and provider module, on the first request, and those ~30,000 objects also live as
long as the process. Left to the first request they stayed in the collector's
oldest generation, about half of what each full collection walked after the freeze;
the first requests of a new worker no longer wait for those imports either.
"""

import gc

from django.conf import settings
from django.urls import get_resolver


def heap_freeze() -> int:
    """Load the URLconf (every view module), collect once, then freeze what is left
    (`GC_FREEZE_AT_STARTUP`); returns how many objects were frozen (0 when the
    setting is off)."""
    if not settings.GC_FREEZE_AT_STARTUP:
        return 0
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - imports every URL module and its views
    resolver.reverse_dict  # noqa: B018 - built once per process
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
