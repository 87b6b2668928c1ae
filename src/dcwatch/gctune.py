"""Garbage-collector settings for batch work (scans, reader processes).

A scan allocates millions of short-lived, acyclic objects (decoded records, activities, their
field dicts). With CPython's default thresholds (700, 10, 10) the young generation is collected
every 700 allocations and each collection walks survivors that are still in flight (re-order
buffers, detector windows), so collections take ~10 % of an EVTX scan's CPU. Objects that exist
before the scan starts (modules, detector registry) are frozen out of the collector's sight, and
the young generation is collected every 20k allocations instead. Cycles are still collected,
later; memory stays bounded by the pipeline's own caps.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BATCH_THRESHOLDS = (20_000, 50, 100)


@contextmanager
def batch_gc() -> Iterator[None]:
    """Collector tuned for a batch run inside the ``with`` block; settings restored after."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*BATCH_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()
