"""Following a set of jobs (a batch) until each has ended, optionally running them in this process.

The jobs live in the store, so following is reading it every ``refresh_s``; with a worker, this process runs
them too (under leases, beside any other workers sharing the store). Following ends when every job has
ended, when only jobs held back by a budget cap remain (only a higher cap or a new UTC day moves them), or
when the caller's ``stop`` event is set (a signal): the jobs stay where they are and a re-run continues.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from veokit import errors as E
from veokit.engine.worker import Worker
from veokit.models.job import Job, utcnow
from veokit.resilience.clock import Clock, SystemClock
from veokit.service.batch import BatchStatus, budget_blocked, summarise
from veokit.store.base import JobStore

StatusFn = Callable[[BatchStatus], None]
REFRESH_S = 1.0


async def follow(
    store: JobStore,
    ids: list[str],
    *,
    worker: Worker | None = None,
    on_status: StatusFn | None = None,
    stop: asyncio.Event | None = None,
    refresh_s: float = REFRESH_S,
    clock: Clock | None = None,
) -> list[Job]:
    """Watch the jobs (running ``worker`` meanwhile) until they are settled or ``stop`` is set; return them."""
    stop = stop or asyncio.Event()
    clock = clock or SystemClock()
    task = asyncio.create_task(worker.run(), name=f"veokit-follow:{worker.owner}") if worker is not None else None
    await retry_budget_blocked_now(store, ids)
    started = utcnow()  # blocked jobs count as stuck only once re-checked after this
    try:
        while True:
            jobs = await store.get_many(ids)
            status = summarise(jobs, since=started)
            if on_status is not None:
                on_status(status)
            if status.done or status.stuck or stop.is_set():
                break
            await clock.wait(stop, refresh_s)
    finally:
        if worker is not None and task is not None:
            worker.stop()  # graceful: submits in progress store their operations, leases are given back
            await task
    return await store.get_many(ids)


async def retry_budget_blocked_now(store: JobStore, ids: list[str]) -> None:
    """A re-run (perhaps with a higher cap) should not wait out the back-off an earlier run gave jobs held
    back by the budget: end it. Releasing with the job's current token is a compare-and-set, so a job a
    worker claims meanwhile is left alone."""
    for job in await store.get_many(ids):
        if budget_blocked(job) and job.lease_owner is None and job.lease_expires_at is not None:
            with contextlib.suppress(E.JobError):
                await store.release(job.id, fence=job.lease_token)
