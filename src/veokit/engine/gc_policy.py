"""The cyclic garbage collector's settings for a process keeping thousands of jobs in flight (a worker).

CPython's defaults, (700, 10, 10), suit a program whose heap turns over; a worker's does not: every job in
flight is a suspended task with its frames, futures and timer (~56 tracked objects each), kept for as long as the
job polls, and each submit and poll allocates a few hundred short-lived containers. Measured with
``bench/in_flight.py --jobs 3000`` (collector CPU over the ramp to 3,000 jobs polling, ``gc.callbacks``):

* at the default threshold, ~900 young collections and ~80 middle ones: ~1.8 s of the ramp's ~20 s of CPU. Most
  of what they traverse is still referenced (requests in flight), so it is walked again one generation up. With
  a young threshold of 10,000, ~33 and ~2 collections, ~0.7 s: most of those objects have been freed by reference
  counting before a collection looks at them;
* every full collection also walks the start-up heap (~106,000 objects: modules, classes, the catalog, the
  settings), which never becomes garbage. Frozen (``gc.freeze``, once, after a collection so that no garbage is
  frozen), a full collection walks the jobs' objects only.

Freezing is once per process and what is frozen is never collected as a cycle afterwards (still freed by
reference counting): it must hold no garbage, hence the collection first, and it is the start-up state only, not
jobs, which come and go. ``veokit.service.batch.gc_paused`` is the enqueue side's counterpart.
"""

from __future__ import annotations

import gc

# Young-generation threshold for a worker process (see the module docstring). Raised only: a process that set a
# higher one keeps it.
YOUNG_THRESHOLD = 10_000
_frozen = False


def for_many_jobs() -> None:
    """Apply the worker's collector settings to this process (idempotent; the first call freezes)."""
    global _frozen
    young, middle, old = gc.get_threshold()
    if young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
