"""Cancelling a job: stop it wherever it is, ask the provider to stop it where it can, record the cost that stands.

By state:

* ``queued``: ``→ cancelled`` at once; nothing was sent, nothing is paid. A worker that had just claimed it
  finds its next write refused (the cancel moves the lease token on) and drops it.
* ``submitting``: a paid call is in flight, and cutting it off would lose the operation it creates. The cancel
  waits (up to ``submit_wait_s``) for the answer, then cancels the job as ``running``. A job whose submitter
  died mid-call (its lease expired) is cancelled as it is: nothing can be asked of the provider, and the
  estimate stands, since the submit may have been accepted.
* ``running``: the cancel first takes the job's lease (a write fenced by the holder's token, so the worker's
  next write fails and its heartbeat reports the lease gone: it stops polling), then calls the provider's
  cancel where it has one (:class:`Cancellable`: fal, Replicate). Accepted, nothing is billed (those providers
  bill delivered output); refused (already finished) or unavailable (Veo on Vertex and the Gemini API have no
  cancel), the generation goes on there and its estimate stands. Then ``→ cancelled`` with that cost, under
  the lease it took. If this process dies in between, the lease expires and a worker carries on polling: the
  job is never lost, only not cancelled.
* ``needs_attention``: like ``running`` (its operation, if known, is cancelled at the provider), without a lease.
* ``downloading``: refused. The video is generated and paid for; it is saved in a moment (delete it after).

The cost that stands is the job's ``cost_usd`` and is settled in the cost ledger as spent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from veokit import errors as E
from veokit.models.job import Job, JobState, utcnow
from veokit.resilience.clock import Clock
from veokit.store.base import JobStore

S = JobState
SUBMIT_WAIT_S = 30.0  # a submit's answer normally takes seconds; past this the caller is told to try again
LOOK_AGAIN_S = 0.2
ATTEMPTS = 20  # the job moved under us this many times: give up with a clear line rather than loop

# The provider's cancel for a job, or None when it has none: raises VeokitError when the provider refuses.
CancelFn = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Upstream:
    """What asking the provider gave: the cost that stands and a line for the job's history."""

    cost_usd: float
    note: str


async def ask_provider(job: Job, cancel: CancelFn | None) -> Upstream:
    stands = f"the cost of ${job.estimate_usd:.2f} stands"
    if not job.operation_name:
        return Upstream(job.estimate_usd, f"its submit may have reached {job.provider}, so {stands}")
    if cancel is None:
        return Upstream(
            job.estimate_usd, f"{job.provider} has no cancel: the generation goes on there and is billed, so {stands}"
        )
    try:
        await cancel(job.operation_name)
    except E.VeokitError as exc:
        return Upstream(job.estimate_usd, f"{job.provider} refused the cancel ({exc.message[:200]}), so {stands}")
    return Upstream(0.0, f"{job.provider} accepted the cancel: nothing is billed")


async def cancel_job(
    store: JobStore,
    job_id: str,
    *,
    owner: str,
    lease_s: float,
    clock: Clock,
    provider_cancel: Callable[[str], CancelFn | None],
    stop_local: Callable[[str], None] = lambda job_id: None,
    submit_wait_s: float = SUBMIT_WAIT_S,
    now: Callable[[], dt.datetime] = utcnow,
) -> Job:
    """Cancel ``job_id`` as described in the module docstring; return the cancelled job.

    ``provider_cancel(provider)``: that provider's cancel call, or None. ``stop_local(job_id)``: stop this
    process's own runners of the job at once (others stop at their next write or heartbeat).
    Raises :class:`~veokit.errors.JobStateError` for a finished or downloading job, or a submit that stays
    unanswered for ``submit_wait_s``; :class:`~veokit.errors.JobNotFound`.
    """
    waited_since = clock.monotonic()
    for _ in range(ATTEMPTS):
        job = await store.get(job_id)
        refuse_finished(job)
        if job.state is S.SUBMITTING and _held(job, now()):
            if clock.monotonic() - waited_since >= submit_wait_s:
                raise E.JobStateError(
                    f"job {job.id} is being submitted and its answer has not come in {submit_wait_s:.0f} s; "
                    "try the cancel again in a moment"
                )
            await clock.sleep(LOOK_AGAIN_S)
            continue
        try:
            return await _cancel(store, job, owner, lease_s, provider_cancel, stop_local, now())
        except (E.LeaseLost, E.JobStateError):
            continue  # the job moved between our read and our write (a worker's step): look again
    raise E.JobStateError(f"job {job_id} kept changing while being cancelled; try again")


def refuse_finished(job: Job) -> None:
    """The states a cancel refuses, with the reason in words."""
    if job.state.terminal:
        raise E.JobStateError(f"job {job.id} is already {job.state.value}; there is nothing to cancel")
    if job.state is S.DOWNLOADING:
        raise E.JobStateError(
            f"job {job.id} is downloading: its video is generated and paid for (${job.estimate_usd:.2f}) "
            "and is saved in a moment; delete it afterwards if you do not want it"
        )


async def _cancel(
    store: JobStore,
    job: Job,
    owner: str,
    lease_s: float,
    provider_cancel: Callable[[str], CancelFn | None],
    stop_local: Callable[[str], None],
    at: dt.datetime,
) -> Job:
    """One attempt, compare-and-set against the job as read: any concurrent step makes it raise, changing nothing."""
    if job.state is S.QUEUED:
        return await store.transition(
            job.id,
            expect=S.QUEUED,
            to=S.CANCELLED,
            fence=job.lease_token,
            cost_usd=0.0,
            **_lease_cleared(job),
            message="cancelled by the user before it was submitted: nothing paid",
        )
    if job.state is S.SUBMITTING:
        return await _cancel_stranded_submit(store, job, owner, lease_s, at)
    if job.state is S.RUNNING:
        taken = await store.transition(
            job.id,
            expect=S.RUNNING,
            to=S.RUNNING,
            fence=job.lease_token,
            lease_owner=owner,
            lease_token=job.lease_token + 1,
            lease_expires_at=at + dt.timedelta(seconds=lease_s),
            message="cancel requested by the user; stopping whoever runs it",
        )
        stop_local(job.id)
        job = taken
    upstream = await ask_provider(job, provider_cancel(job.provider))
    return await store.transition(
        job.id,
        expect=job.state,
        to=S.CANCELLED,
        fence=job.lease_token,
        cost_usd=upstream.cost_usd,
        **_lease_cleared(job),
        message=f"cancelled by the user; {upstream.note}",
    )


async def _cancel_stranded_submit(store: JobStore, job: Job, owner: str, lease_s: float, at: dt.datetime) -> Job:
    """A job left in ``submitting`` by a submitter that is gone: take its lease as any worker would, then cancel
    it; the outcome of its submit is unknown, so its estimate stands."""
    claimed = await store.claim(owner, lease_s=lease_s, job_ids=[job.id], now=at)
    if not claimed:
        raise E.LeaseLost(f"job {job.id} was claimed meanwhile")
    upstream = await ask_provider(claimed[0], None)
    return await store.transition(
        job.id,
        expect=S.SUBMITTING,
        to=S.CANCELLED,
        fence=claimed[0].lease_token,
        cost_usd=upstream.cost_usd,
        **_lease_cleared(claimed[0]),
        message=f"cancelled by the user; {upstream.note}",
    )


def _held(job: Job, at: dt.datetime) -> bool:
    return job.lease_owner is not None and job.lease_expires_at is not None and job.lease_expires_at > at


def _lease_cleared(job: Job) -> dict[str, object]:
    """A finished job keeps no lease, and its token moves on so that any earlier holder's writes now fail."""
    return {"lease_owner": None, "lease_token": job.lease_token + 1, "lease_expires_at": None}
