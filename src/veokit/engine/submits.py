"""A paid submit's outcome is never dropped, and never guessed.

Recording. When the provider accepts, the operation goes first into the job's submission
(:meth:`~veokit.store.base.JobStore.record_accepted`: append-only, *not* fenced, so a worker that lost its lease
while waiting for the answer still records it), then the job moves to ``running`` (fenced). Both writes are
retried across transient database faults (a lock, a dropped connection) within :data:`WRITE_ATTEMPTS`.

Deciding. A job found in ``submitting`` by its next holder (:func:`settle`) is, in order:

1. continued, when its last submission recorded an operation (the previous holder lost its lease or died
   between recording and ``running``);
2. left alone for now (:class:`~veokit.errors.SubmitInFlight`) while the worker that began the call may still
   be waiting for its answer: not known dead, and less than :data:`IN_FLIGHT_S` since it began;
3. looked up at the provider where it can list what it accepted (:class:`~veokit.providers.base.FindsSubmits`):
   one matching operation is continued; none means the request never arrived, so the job is queued again; a
   listing that failed for now (a timeout, a 5xx, a 429 on a loaded machine) is asked again later, for up to
   :data:`LOOKUP_PATIENCE_S` after the submit began;
4. otherwise set aside (``needs_attention``): veokit never resubmits a request the provider may have accepted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from veokit import errors as E
from veokit.models.job import Job, JobState, Submission, utcnow
from veokit.models.request import GenerateRequest
from veokit.providers.base import FindsSubmits, Provider
from veokit.store import faults
from veokit.store.base import JobStore
from veokit.store.leases import owner_is_dead

S = JobState
T = TypeVar("T")

# The longest one submit call can wait for its answer (the HTTP client's connect and read timeouts, 15 + 60 s,
# with room to spare). A worker checks it still holds the lease right before sending, so no later attempt of
# its own starts after this.
IN_FLIGHT_S = 150.0
# A request sent by a worker that died a moment ago may still be on its way through the provider's front end:
# its listing is trusted to say "never accepted" only this long after the submit began.
LISTING_SETTLE_S = 5.0
# How long a provider's listing that keeps failing is asked again (every LOOKUP_RETRY_S) before the job is set
# aside: a busy front end, not a reason for a human to decide.
LOOKUP_PATIENCE_S = 900.0
LOOKUP_RETRY_S = 10.0
WRITE_ATTEMPTS = 8
WRITE_BACKOFF_S = 0.25


async def durable_write(write: Callable[[], Awaitable[T]], *, attempts: int = WRITE_ATTEMPTS) -> T:
    """Run a store write, again after a transient database fault (bounded; the last fault is raised, named)."""
    for attempt in range(1, attempts + 1):
        try:
            return await write()
        except Exception as exc:
            if attempt == attempts or not faults.transient(exc):
                raise
            await asyncio.sleep(min(2.0, WRITE_BACKOFF_S * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover


async def record(store: JobStore, job: Job, seq: int, operation_name: str, message: str, **fields: Any) -> Job:
    """The provider accepted submit ``seq``: record it (unfenced), then move the job to ``running``."""
    await durable_write(lambda: store.record_accepted(job.id, seq, operation_name))
    return await durable_write(
        lambda: store.transition(
            job.id,
            expect=S.SUBMITTING,
            to=S.RUNNING,
            operation_name=operation_name,
            submitted_at=utcnow(),
            error=None,
            message=message,
            **fields,
        )
    )


def _why_unknown(job: Job, detail: str, after: str) -> str:
    how = after or "found mid-submit after an interruption"
    return (
        f"{how}{detail}; the provider may have accepted it, so veokit will not "
        f"resubmit on its own. Run `veokit jobs retry {job.id}` to submit again (may pay twice), "
        f"`veokit jobs reconcile {job.id} OPERATION` if you find it, or `veokit jobs abandon {job.id}`"
    )


async def settle(
    store: JobStore,
    job: Job,
    provider: Provider | None,
    request: Callable[[], Awaitable[GenerateRequest]],
    *,
    call_over: bool = False,
    after: str = "",
    now: dt.datetime | None = None,
) -> Job:
    """Decide what a job found in ``submitting`` becomes (see the module docstring). ``call_over``: the caller
    made the call itself and it has ended (its outcome unknown: ``after`` says how), so nothing is in flight."""
    at = now or utcnow()
    begun = await store.submissions(job.id)
    last: Submission | None = begun[-1] if begun else None
    if last is not None and last.operation_name is not None:
        return await store.transition(
            job.id,
            expect=S.SUBMITTING,
            to=S.RUNNING,
            operation_name=last.operation_name,
            submitted_at=last.accepted_at or at,
            error=None,
            message=f"operation {last.operation_name} (accepted for {last.owner or 'a run'} before it stopped); "
            "continuing",
        )
    age = (at - last.started_at).total_seconds() if last is not None else None
    if last is not None and age is not None:
        # An owner runs one task per job at a time (a worker that re-claims a job it still runs waits for that
        # task first), so a submit begun under the owner holding the job now is over.
        alive = (
            not call_over and last.owner is not None and last.owner != job.lease_owner and not owner_is_dead(last.owner)
        )
        if alive and age < IN_FLIGHT_S:
            wait = IN_FLIGHT_S - age
            raise E.SubmitInFlight(
                f"job {job.id}: its submit began {age:.0f} s ago under {last.owner}, which may still be waiting "
                f"for the answer; looking again in {min(wait, 10.0):.0f} s",
                retry_after_s=min(wait, 10.0),
            )
    if isinstance(provider, FindsSubmits) and last is not None and age is not None:
        if age < LISTING_SETTLE_S and not call_over:
            raise E.SubmitInFlight(
                f"job {job.id}: its submit began {age:.1f} s ago; asking the provider once it has settled",
                retry_after_s=LISTING_SETTLE_S - age,
            )
        # The provider's clock may differ from ours: a little slack before the start.
        try:
            found = await provider.find_submitted(await request(), since=last.started_at - dt.timedelta(seconds=60))
        except E.VeokitError as exc:
            if exc.retryable and age < LOOKUP_PATIENCE_S:
                raise E.SubmitInFlight(
                    f"job {job.id}: its submit's outcome is unknown and {job.provider}'s listing failed for now "
                    f"({exc.message}); asking again in {LOOKUP_RETRY_S:.0f} s",
                    retry_after_s=LOOKUP_RETRY_S,
                ) from None
            found = None
            how = f"kept failing for {age:.0f} s" if exc.retryable else "was refused"
            lookup_failed = f" ({job.provider}'s listing {how}: {exc.message})"
        else:
            lookup_failed = ""
        if found is not None and len(found) == 1:
            [name] = found
            await store.record_accepted(job.id, last.seq, name)
            return await store.transition(
                job.id,
                expect=S.SUBMITTING,
                to=S.RUNNING,
                operation_name=name,
                submitted_at=at,
                error=None,
                message=f"{after or 'found mid-submit'}; {job.provider} lists operation {name} for exactly this "
                "request: continuing",
            )
        if found == []:
            return await store.transition(
                job.id,
                expect=S.SUBMITTING,
                to=S.QUEUED,
                message=f"{after or 'found mid-submit'}; {job.provider} lists no operation for this request: it "
                "never arrived, so it is queued to be submitted again",
            )
        detail = (
            f" ({job.provider} lists {len(found)} operations for this identical request: {', '.join(found)})"
            if found
            else lookup_failed
        )
    else:
        detail = ""
    why = _why_unknown(job, detail, after)
    return await store.transition(
        job.id,
        expect=S.SUBMITTING,
        to=S.NEEDS_ATTENTION,
        message=why,
        error=E.SubmitOutcomeUnknown(why, provider=job.provider).to_dict(),
    )
