"""The cyclic garbage collector paused for bulk work that makes many objects and no cycles."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["collector_off", "collector_paused"]


@contextmanager
def collector_off() -> Iterator[None]:
    """The cyclic GC off for the block; nested uses leave it to the outermost."""
    # Each full collection walks every live object: in a process already holding a large
    # window (a pipeline run, a benchmark) that made clustering 20k docs grow faster than
    # the work (the clustering and the cluster stage run inside this).
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def collector_paused() -> Iterator[Callable[[], None]]:
    """The cyclic GC off for a bulk read; call the function it yields once the data is made.

    Reading a 20k-item store makes ~1M objects and no reference cycle: the collector would walk
    them over and over (~10% of an unchanged rebuild) and free nothing. So it is off while they
    are made, and they are then frozen (left out of its passes) until the block ends.
    """
    if not gc.isenabled() or gc.get_freeze_count():
        yield lambda: None  # the caller manages the collector itself
        return
    frozen = False

    def made() -> None:
        nonlocal frozen
        if not frozen:
            gc.enable()
            gc.freeze()
            frozen = True

    gc.disable()
    try:
        yield made
    finally:
        if frozen:
            gc.unfreeze()
        else:
            gc.enable()
