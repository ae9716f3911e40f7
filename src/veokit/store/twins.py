"""Twins: identical seeded requests in flight at the same time pay once.

A job whose request has a fixed seed, recorded without ``--fresh``, is *eligible*; another job with the same
fingerprint (:meth:`~veokit.models.request.GenerateRequest.fingerprint`: every field that shapes the video, the
seed included) is its *twin*. Right before an eligible job's paid submit, :meth:`JobStore.begin_submit` holds
it back, in the same transaction as ``queued → submitting`` and serialised per fingerprint (so two workers
claiming both twins at once cannot both pay), when :func:`blocking` finds, in this order:

1. a non-fresh twin being paid for (``submitting``, ``running``, ``downloading``): it began first;
2. a twin that succeeded after this job was recorded and that the caller has not already found unusable
   (``passed``: its files are gone): its video is this job's, at $0;
3. an older non-fresh twin still ``queued`` under a live lease: someone is about to submit it, and the oldest
   pays.

An older twin queued with no live lease (nobody runs it: a ``batch --no-run`` not yet resumed, a back-off, a
dead process) holds nobody back: the younger one pays, and the older then waits for it. So whoever claims
which twin first, one pays at a time, and no job waits for one that nobody is running.

Holding back records the twin as the job's ``twin_of`` (with an event when it changes) and raises
:class:`~veokit.errors.TwinInFlight`; nothing else is written (no submission, no reservation). The job stays
``queued``, claimable like any other, so a crash strands nothing: whoever runs it next waits for the same twin
(:mod:`veokit.engine.twins`) and ends as it did.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from veokit.models.job import Job, JobState

S = JobState
PAYING: tuple[JobState, ...] = (S.SUBMITTING, S.RUNNING, S.DOWNLOADING)
# The states a twin can hold another job back in (the store reads only these).
CANDIDATES: tuple[JobState, ...] = (S.QUEUED, *PAYING, S.SUCCEEDED)


def eligible(job: Job) -> bool:
    """Whether ``job`` waits for an identical job in flight rather than paying for its own video."""
    return may_wait(job.fresh, job.request)


def may_wait(fresh: bool, request: Mapping[str, Any]) -> bool:
    """:func:`eligible` from the two values it reads (a store checks them on a row before making it a job)."""
    return not fresh and request.get("seed") is not None


def _order(job: Job) -> tuple[dt.datetime, str]:
    return (job.created_at, job.id)


def blocking(job: Job, twins: Iterable[Job], *, now: dt.datetime, passed: Collection[str] = ()) -> Job | None:
    """The twin ``job`` must wait for instead of submitting (see the module docstring), or ``None``.
    ``twins``: jobs with its fingerprint (any state; others are ignored)."""
    if not eligible(job):
        return None
    others = [t for t in twins if t.id != job.id and t.fingerprint == job.fingerprint]
    paying = sorted((t for t in others if t.state in PAYING and not t.fresh), key=_order)
    if paying:
        return paying[0]
    # Delivered after this job was recorded: it was in flight with this one (an older success was reusable
    # before this job was even queued, and the engine looks for those itself).
    delivered = [
        t
        for t in others
        if t.state is S.SUCCEEDED and t.id not in passed and (t.finished_at or t.created_at) > job.created_at
    ]
    if delivered:
        return max(delivered, key=lambda t: (t.finished_at or t.created_at, t.id))
    about_to = sorted(
        (
            t
            for t in others
            if t.state is S.QUEUED
            and not t.fresh
            and _order(t) < _order(job)
            and t.lease_owner is not None
            and t.lease_expires_at is not None
            and t.lease_expires_at > now
        ),
        key=_order,
    )
    return about_to[0] if about_to else None


def waiting_message(twin: Job) -> str:
    """The event recorded when a job starts waiting for ``twin``."""
    doing = "was just delivered" if twin.state is S.SUCCEEDED else f"is {twin.state.value}"
    return (
        f"waiting for its twin {twin.id} (same request and seed; it {doing}): this job gets its video at $0 "
        "when it is delivered (--fresh pays for a new one)"
    )


def held_back(job_id: str, twin: Job) -> str:
    return f"job {job_id}: not submitted: its twin {twin.id} (same request and seed) is paid for once"


def lock_key(fingerprint: str) -> int:
    """A PostgreSQL advisory lock key for one fingerprint (signed 64-bit): serialises its twins' submits."""
    return int.from_bytes(hashlib.sha256(b"veokit-twins:" + fingerprint.encode()).digest()[:8], "big", signed=True)
