"""Python's cycle collector around bulk work: the one place that pauses or narrows it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bulk operation runs.

    A bulk operation allocates hundreds of thousands of short-lived objects, almost none
    in a cycle, and the collector would walk the heap after every few hundred of them
    (figures in docs/performance.md). Reference counting still frees them as they go;
    whatever cycles remain wait for an explicit gc.collect() or for the collector to be back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Leave the collector on, but set aside every object the process already holds.

    For a loop that runs without end (the drain): pausing the collector would let cycles
    pile up, while each full collection would otherwise walk every object of Django,
    settings and code as well as the loop's own. Collected first, so no garbage is set aside.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
