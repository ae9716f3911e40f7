"""Waiting for a twin: an identical seeded job being paid for gives this one its video at $0.

The store decides, atomically, that a job must not submit (:mod:`veokit.store.twins`): its ``twin_of`` names
the twin. Here, before each submit of an eligible job, the engine:

* reuses a delivered twin's videos when their files are on disk (``succeeded`` at $0, naming it);
* waits, checking every ``interval_s`` on the engine's clock, while its twin still holds it back (being paid
  for, or about to be);
* ends like a twin that was ``filtered`` or ``failed`` (at $0, saying which twin and why);
* otherwise (the twin was cancelled, abandoned, set aside, or nobody is running it) lets it be submitted:
  ``begin_submit`` then decides again, and may name another twin.

Waiting holds no provider slot and sends nothing; the job stays ``queued`` under its lease, so a crash leaves a
claimable job that whoever runs next waits for the same twin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from veokit import errors as E
from veokit.engine import reuse
from veokit.models.job import Job, JobState
from veokit.resilience.clock import Clock
from veokit.store import twins
from veokit.store.base import JobStore

S = JobState


async def await_twin(
    store: JobStore,
    job: Job,
    *,
    clock: Clock,
    interval_s: float,
    now: Callable[[], dt.datetime],
    waiting: Callable[[Job], None],
) -> tuple[Job, frozenset[str]]:
    """Settle a queued eligible job against its twin (see the module docstring). Returns the job, ended or
    still queued (then to be submitted), and the delivered twins whose files are gone (``begin_submit``'s
    ``passed``). ``waiting`` is told each time it waits for ``job.twin_of``."""
    passed: set[str] = set()
    while True:
        source = await reuse.find_delivered(store, job.fingerprint)
        if source is not None:
            return await reuse.take_twins(store, job, source), frozenset(passed)
        if job.twin_of is None:
            return job, frozenset(passed)
        try:
            twin = await store.get(job.twin_of)
        except E.JobNotFound:  # deleted with its store rows: nothing to wait for
            return job, frozenset(passed)
        if twin.state is S.SUCCEEDED:
            # Delivered since the look-up above (or its files are gone, then this job makes its own): read
            # here, not from that look-up, or a twin finishing between the two reads would be paid for twice.
            if await reuse.on_disk(twin):
                return await reuse.take_twins(store, job, twin), frozenset(passed)
            passed.add(twin.id)
            return job, frozenset(passed)
        if twin.state in (S.FILTERED, S.FAILED):
            return await _end_like(store, job, twin), frozenset(passed)
        if twins.blocking(job, [twin], now=now()) is None:
            return job, frozenset(passed)
        waiting(twin)
        await clock.sleep(interval_s)
        job = await store.get(job.id)
        if job.state is not S.QUEUED:  # cancelled meanwhile
            return job, frozenset(passed)


async def _end_like(store: JobStore, job: Job, twin: Job) -> Job:
    """The twin was filtered or failed: so is this identical request, and nothing was paid for it."""
    error = dict(twin.error or {})
    why = error.get("message") or twin.state.value
    message = f"its twin {twin.id} (same request and seed) was {twin.state.value}: {why}; nothing paid for this one"
    return await store.transition(
        job.id, expect=S.QUEUED, to=twin.state, cost_usd=0.0, error={**error, "message": message}, message=message
    )
