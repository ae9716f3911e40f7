"""Workers: claim jobs from the shared store, run each under a heartbeat-renewed lease, give them back.

One :class:`Worker` keeps up to ``concurrency`` jobs in flight in one event loop (a job waiting on Veo is a
sleeping coroutine, not a thread), so thousands fit in one process. Many workers, on many machines, share a
PostgreSQL store: claims never hand the same job to two of them, and a worker that dies simply stops renewing,
so its jobs are claimed again once their short lease expires. Every write a worker makes is fenced by its
lease token, so one that stalled past its lease changes nothing (:class:`~veokit.errors.LeaseLost`).

What happens to a job after it leaves the engine:

* finished, or needing the user's decision: the lease is given back (finished jobs keep it as a record);
* over a budget cap: released with a back-off (``budget_retry_s``): it stays queued and runs once the cap
  allows — raised, a new UTC day, or in-flight reservations released;
* any other error with the job still active (a submit not sent, a download that failed): released with an
  exponential back-off, for any worker to pick up later;
* found mid-submit (its worker died or lost its lease during the paid call): the engine continues the
  operation that worker recorded, waits while its call may still be answering, asks the provider where it can
  list what it accepted, and only then sets it aside (``needs_attention``); it is never submitted again
  without a provider's word or the user's (see :mod:`veokit.engine.submits`).

Stopping (:meth:`Worker.stop`, SIGTERM in the CLI) stops claiming, lets paid submits in progress reach
the point where their operation name is stored (up to ``stop_grace_s``), interrupts polls and downloads
(the state they checkpointed is enough to resume), and releases every lease so other workers continue at
once instead of waiting for expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from veokit import errors as E
from veokit.engine import gc_policy
from veokit.engine.runner import Engine, Progress, ProgressFn
from veokit.models.job import Job, JobState, utcnow
from veokit.providers import registry
from veokit.resilience.clock import Clock
from veokit.resilience.retry import backoff, server_hint
from veokit.store.base import JobStore
from veokit.store.leases import CLAIMABLE, owner_is_dead

log = logging.getLogger("veokit.worker")
S = JobState
DRAIN_SCAN = 10_000  # queued jobs drain looks at; more than that is "work left" anyway
WallClock = Callable[[], dt.datetime]
EventFn = Callable[[str], None]


def operation_gone(provider: str) -> str:
    """Why a job of a non-durable provider (the in-process emulator) cannot be resumed elsewhere."""
    return (
        f"the {provider} operations live only in the process that started them, and that process has exited: "
        "this job's operation is gone"
    )


def worker_id(kind: str = "worker") -> str:
    """A lease owner unique across machines and restarts: host, pid, and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{kind}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class WorkerConfig:
    owner: str = field(default_factory=worker_id)
    concurrency: int = 200
    lease_s: float = 30.0  # renewed every lease_s / 3; a dead worker's jobs wait at most this long
    idle_s: float = 1.0  # how often to look for work when there was none
    claim_batch: int = 100  # jobs per claim query
    # Jobs between claim and first poll (the submit: several durable writes and a paid call) at once. Past
    # that, a job is a sleeping coroutine; bounding this phase keeps a burst of thousands from starving the
    # database pool and the event loop, while the number in flight stays `concurrency`. A start is mostly
    # waiting (group commits, the provider's answer), so this bound sets how fast a worker ramps up: at 50,
    # 3,000 jobs took 139 s to be all polling (10,000: 7,391 by 300 s), the polls of those already started
    # piling onto the ramp's CPU; at 500, 40 s, with less CPU per start (bench/in_flight.py, issue 11 target 2).
    max_starting: int = 500
    backoff_base_s: float = 5.0
    backoff_max_s: float = 300.0
    budget_retry_s: float = 60.0
    stop_grace_s: float = 15.0
    drain: bool = False  # return once no job is left to run here or elsewhere, except ones over a budget cap
    # The lease owner this worker replaces, known to be dead (a service restarted after a crash, see
    # veokit.service.instance): its jobs are claimed at once instead of once their leases expire.
    take_over: str | None = None
    # Tune this process's cyclic collector for thousands of jobs in flight (engine/gc_policy.py: a higher young
    # threshold, the start-up heap frozen once). Process-wide: off for a program that embeds a worker and
    # manages its collector itself.
    tune_gc: bool = True

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_starting < 1:
            raise ValueError(f"concurrency must be >= 1, got {min(self.concurrency, self.max_starting)}")
        for name in ("lease_s", "idle_s", "backoff_base_s", "backoff_max_s", "budget_retry_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")


@dataclass
class WorkerStats:
    claimed: int = 0
    finished: Counter[str] = field(default_factory=Counter)  # final state → count
    released: int = 0
    lost: int = 0
    polls: int = 0
    peak_in_flight: int = 0


@dataclass
class _Running:
    # The lease token, not the claimed Job: a row held for the hours a job polls is memory per job in flight.
    token: int
    task: asyncio.Task[None]
    polling: bool = False  # the engine reported progress: past the paid submit, safe to interrupt
    polls: int = 0


class Worker:
    def __init__(
        self,
        engine: Engine,
        config: WorkerConfig | None = None,
        *,
        on_event: EventFn | None = None,
        wall: WallClock = utcnow,
    ) -> None:
        self.engine = engine
        self.store: JobStore = engine.store
        self.clock: Clock = engine.clock  # every wait here (idle, heartbeat, stop grace) is on the engine's clock
        self.config = config or WorkerConfig()
        self.owner = self.config.owner
        self.stats = WorkerStats()
        self._on_event = on_event or (lambda line: log.info("%s", line))
        self._wall = wall
        self._running: dict[str, _Running] = {}
        self._polling = 0  # entries of _running past their paid submit: kept, not counted, per claim
        self._failures: Counter[str] = Counter()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._take_over = self.config.take_over

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def polling(self) -> int:
        """Jobs in flight past their paid submit (their operation recorded): waiting on the provider."""
        return self._polling

    def stop(self) -> None:
        """Stop claiming and shut down gracefully (see the module docstring). Safe from a signal handler."""
        self._stopping.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for work now (a job was just recorded) instead of at the next ``idle_s``."""
        self._wake.set()

    def drop(self, job_id: str) -> None:
        """Stop working on a job someone else has taken (a cancel) now rather than at the next heartbeat. A job
        still being submitted is left to finish its paid call: its next write fails harmlessly."""
        running = self._running.get(job_id)
        if running is not None and running.polling:
            running.task.cancel()
            self._event(f"{job_id}: taken over (cancelled by the user?); stopped working on it")

    async def run(self) -> WorkerStats:
        if self.config.tune_gc:
            gc_policy.for_many_jobs()  # process-wide: the collector's passes were ~10% of a worker's CPU
        heartbeat = asyncio.create_task(self._heartbeat(), name=f"veokit-heartbeat:{self.owner}")
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before claiming: a job finishing from here on wakes the wait below
                starting = len(self._running) - self._polling
                free = min(self.config.concurrency - len(self._running), self.config.max_starting - starting)
                claimed: list[Job] = []
                if free > 0:
                    claimed = await self._claim(min(free, self.config.claim_batch))
                if claimed and len(claimed) == min(free, self.config.claim_batch) and free > len(claimed):
                    continue  # a full batch with room for more: there may be more right now
                if not claimed and not self._running and self.config.drain and await self._nothing_left():
                    break
                await self.clock.wait(self._wake, self.config.idle_s)
        finally:
            await self._shutdown(heartbeat)
        return self.stats

    # -- claiming and running -------------------------------------------------------------------------------
    async def _claim(self, limit: int) -> list[Job]:
        dead = self._take_over
        try:
            claimed = await self.store.claim(
                self.owner, lease_s=self.config.lease_s, limit=limit, now=self._wall(), take_over=dead
            )
        except Exception as exc:  # the database is unreachable: nothing is lost, try again shortly
            self._event(f"claim failed ({type(exc).__name__}: {E.redact(str(exc))[:200]}); retrying")
            return []
        if dead is not None and len(claimed) < limit:
            self._take_over = None  # nothing of the dead owner's is left unclaimed
        for job in claimed:
            self.stats.claimed += 1
            earlier = self._running.get(job.id)
            # Our own lease on a job we still run lapsed (late heartbeats) and we claimed it again: the earlier
            # task's writes now fail (fenced), and this run starts only once it has ended, so that one task per
            # job is ever in a paid call here (engine/submits.py relies on it).
            work = self._run_one(job) if earlier is None else self._run_after(earlier.task, job)
            task = asyncio.create_task(work, name=f"veokit-job:{job.id}")
            if earlier is not None and earlier.polling:
                self._polling -= 1  # replaced below: its task's end no longer finds it
            self._running[job.id] = _Running(job.lease_token, task)
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, len(self._running))
        return claimed

    async def _run_after(self, earlier: asyncio.Task[None], job: Job) -> None:
        with contextlib.suppress(BaseException):
            await asyncio.shield(earlier)
        await self._run_one(job)

    async def _nothing_left(self) -> bool:
        """Drain's test. Jobs held back by a budget cap do not count: only a new cap or a new day moves them."""
        if await self.store.list(states=[s for s in CLAIMABLE if s is not S.QUEUED], limit=1):
            return False
        queued = await self.store.list(states=[S.QUEUED], limit=DRAIN_SCAN)
        return len(queued) < DRAIN_SCAN and all(isinstance(E.from_record(j.error), E.BudgetExceeded) for j in queued)

    async def _run_one(self, job: Job) -> None:
        job_id, token = job.id, job.lease_token
        budget_note = (job.error or {}).get("message")
        # Its operation lived in the process that died (the in-process emulator's do): it is gone. (A worker
        # never re-claims its own live jobs, so this is always a takeover.)
        gone = None if registry.durable(job.provider) or job.state is S.QUEUED else (job.state, job.provider)
        # The engine starts from the claimed row (no second read) and takes it out of the box: this frame
        # must not keep it for as long as the job polls.
        claimed = [job]
        del job
        try:
            # Inline, not a helper coroutine: every frame on this task's stack is held for as long as the job polls.
            if gone is not None:
                final = await self.store.transition(
                    job_id, expect=gone[0], to=S.NEEDS_ATTENTION, fence=token, message=operation_gone(gone[1])
                )
            else:
                final = await self.engine.run(
                    job_id, self._progress_for(job_id), fence=token, wall=self._wall, claimed=claimed
                )
        except E.LeaseLost:
            self.stats.lost += 1
            now = await self._state_of(job_id)
            if now is S.CANCELLED:
                self._event(f"{job_id}: cancelled by the user; stopped working on it")
            else:
                self._event(
                    f"{job_id}: lease lost to another worker; stopped (an operation the provider accepted is "
                    "recorded for it to continue)"
                )
        except E.SubmitInFlight as exc:
            # Not a failure: another worker's paid call may still be answering. Look again soon.
            await self._release(job_id, token, delay_s=exc.retry_after_s, message=exc.message)
        except E.BudgetExceeded as exc:
            first = budget_note != exc.message
            await self._release(
                job_id,
                token,
                delay_s=self.config.budget_retry_s,
                error=exc.to_dict(),
                message=exc.message if first else "",
            )
        except asyncio.CancelledError:
            raise  # shutdown or a lost lease: whoever cancelled us releases (or has lost) the lease
        except Exception as exc:
            await self._back_off(job_id, token, exc)
        else:
            self._failures.pop(job_id, None)
            self.stats.finished[final.state.value] += 1
            self._event(_describe(final))
            if not final.state.terminal:
                await self._release(job_id, token)
        finally:
            entry = self._running.get(job_id)
            if entry is not None and entry.task is asyncio.current_task():  # not a later claim's (see _claim)
                del self._running[job_id]
                self._polling -= entry.polling
                self.stats.polls += entry.polls
            self._wake.set()

    def _progress_for(self, job_id: str) -> ProgressFn:
        def progress(p: Progress) -> None:
            running = self._running.get(job_id)
            if running is not None:
                if not running.polling:
                    self._wake.set()  # a starting slot is free: claim the next job now
                    self._polling += 1
                running.polling = True
                running.polls = p.polls

        return progress

    async def _back_off(self, job_id: str, token: int, exc: Exception) -> None:
        self._failures[job_id] += 1
        # Full jitter: many jobs failing together (a provider outage) must not come back together.
        delay = backoff(
            self._failures[job_id],
            base_s=self.config.backoff_base_s,
            cap_s=self.config.backoff_max_s,
            rng=self.engine.rng,
            hint_s=server_hint(exc),
        )
        what = exc.message if isinstance(exc, E.VeokitError) else f"{type(exc).__name__}: {E.redact(str(exc))[:200]}"
        if not isinstance(exc, E.VeokitError):
            log.exception("unexpected error running %s", job_id, exc_info=exc)
        self._event(f"{job_id}: {what}; trying again in {delay:.0f} s")
        await self._release(job_id, token, delay_s=delay, message=f"{what}; released for a retry in {delay:.0f} s")

    async def _release(
        self,
        job_id: str,
        token: int,
        *,
        delay_s: float = 0.0,
        message: str = "",
        error: dict[str, object] | None = None,
    ) -> None:
        try:
            await self.store.release(
                job_id, fence=token, delay_s=delay_s, message=message, error=error, now=self._wall()
            )
            self.stats.released += 1
        except E.LeaseLost:
            self.stats.lost += 1
        except Exception as exc:  # the lease will expire on its own; log and move on
            self._event(f"{job_id}: could not release the lease ({type(exc).__name__}); it expires by itself")

    async def _release_all(self, leases: dict[str, int]) -> None:
        try:
            lost = await self.store.release_many(leases, message=f"worker {self.owner} stopped", now=self._wall())
        except Exception as exc:  # the leases will expire on their own; log and move on
            self._event(f"could not release {len(leases)} lease(s) ({type(exc).__name__}); they expire by themselves")
            return
        self.stats.released += len(leases) - len(lost)
        self.stats.lost += len(lost)

    # -- heartbeat ------------------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        beats = Beats(self.clock, self.config.lease_s)
        while True:
            await beats.until_due()
            held = {job_id: r.token for job_id, r in self._running.items()}
            if not held:
                beats.renewed(self.clock.monotonic())  # nothing to renew: leases claimed from now on are fresh
                continue
            started = self.clock.monotonic()
            try:
                lost = await self.store.renew(self.owner, held, lease_s=self.config.lease_s, now=self._wall())
            except Exception as exc:  # soon again; if the outage outlasts the lease, fencing protects
                self._event(f"heartbeat failed ({type(exc).__name__}); retrying")
                await beats.failed()
                continue
            beats.renewed(started)
            for job_id in lost:
                running = self._running.get(job_id)
                if running is not None and running.polling:
                    # Someone else owns it now (a worker after late heartbeats, or a cancel). Stop polling; a
                    # task still submitting is left to finish its paid call, and its next write fails harmlessly.
                    running.task.cancel()
                    self.stats.lost += 1
                    self._event(f"{job_id}: lease lost (taken over, or heartbeats were late); stopped working on it")

    # -- shutdown -------------------------------------------------------------------------------------------
    async def _shutdown(self, heartbeat: asyncio.Task[None]) -> None:
        if self._running:
            self._event(f"stopping: {len(self._running)} job(s) in flight; releasing their leases")
        deadline = self.clock.monotonic() + self.config.stop_grace_s
        # Heartbeats continue while submits finish, so no lease expires under a job still being submitted.
        while self._running:
            self._wake.clear()  # set when a job ends or reaches its first poll: look again then
            late = self.clock.monotonic() >= deadline
            interrupt = [(job_id, r) for job_id, r in self._running.items() if r.polling or late]
            for job_id, r in interrupt:
                if not r.polling:
                    self._event(
                        f"{job_id}: still submitting after {self.config.stop_grace_s:.0f} s; "
                        "interrupted (it will need your decision)"
                    )
                r.task.cancel()
            if interrupt:
                await asyncio.gather(*(r.task for _, r in interrupt), return_exceptions=True)
                # One statement per thousand leases, not a transaction per job: a worker stopping with ten
                # thousand jobs in flight hands them back in seconds.
                await self._release_all({job_id: r.token for job_id, r in interrupt})
            if self._running and not interrupt:
                await self.clock.wait(self._wake, deadline - self.clock.monotonic())
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat

    def _event(self, line: str) -> None:
        self._on_event(line)

    async def _state_of(self, job_id: str) -> JobState | None:
        try:
            return (await self.store.get(job_id)).state
        except Exception:  # only for the message: the outcome is the same
            return None


class Beats:
    """When to renew a lease: a third of it after the start of the last renewal that succeeded (that is when
    the lease was extended from), not a third after the last one ended, so a renewal slowed down by a busy
    database or event loop does not push the next one past the expiry; after a failure, again soon."""

    def __init__(self, clock: Clock, lease_s: float) -> None:
        self.clock = clock
        self.period = lease_s / 3  # two missed beats still leave the lease alive
        self.last_ok = clock.monotonic()

    async def until_due(self) -> None:
        await self.clock.sleep(max(0.0, self.last_ok + self.period - self.clock.monotonic()))

    def renewed(self, started: float) -> None:
        self.last_ok = started

    async def failed(self) -> None:
        await self.clock.sleep(self.period / 4)


def _describe(job: Job) -> str:
    if job.state is S.SUCCEEDED:
        return f"{job.id}: succeeded · ${job.cost_usd or 0:.2f} · {len(job.results)} video(s)"
    reason = (job.error or {}).get("message", "")
    return f"{job.id}: {job.state.value}" + (f": {reason}" if reason else "")


async def run_leased(
    engine: Engine,
    job_id: str,
    *,
    owner: str,
    lease_s: float,
    on_progress: ProgressFn | None = None,
    wall: WallClock = utcnow,
) -> Job | None:
    """Run one job in this process under a lease (the library's and CLI's way to run a job, so that a worker
    sharing the store never runs it at the same time). ``None`` when the job is not claimable: another
    process holds it, or it is not active."""
    store = engine.store
    claimed = await store.claim(owner, lease_s=lease_s, job_ids=[job_id], now=wall())
    if not claimed:
        # Held: if by a process of this machine that has died (a `veokit generate` killed a moment ago),
        # take it over now instead of making the user wait for the lease to expire.
        held_by = (await store.get(job_id)).lease_owner
        if held_by is None or not owner_is_dead(held_by):
            return None
        claimed = await store.claim(owner, lease_s=lease_s, job_ids=[job_id], now=wall(), take_over=held_by)
        if not claimed:
            return None
    return await run_under_lease(
        engine, job_id, claimed[0].lease_token, owner=owner, lease_s=lease_s, on_progress=on_progress, wall=wall
    )


async def revive_leased(
    engine: Engine,
    job_id: str,
    *,
    owner: str,
    lease_s: float,
    message: str,
    on_progress: ProgressFn | None = None,
    wall: WallClock = utcnow,
) -> Job:
    """Keep waiting on a job set aside at its deadline (``needs_attention`` with an operation): the write
    that makes it ``running`` again also takes its lease, so no worker can claim it in between, and it then
    runs here under that lease with a fresh deadline."""
    store = engine.store
    job = await store.get(job_id)
    revived = await store.transition(
        job_id,
        expect=S.NEEDS_ATTENTION,
        to=S.RUNNING,
        message=message,
        lease_owner=owner,
        lease_token=job.lease_token + 1,  # as a claim does: any earlier holder's writes now fail
        lease_expires_at=wall() + dt.timedelta(seconds=lease_s),
    )
    return await run_under_lease(
        engine,
        job_id,
        revived.lease_token,
        owner=owner,
        lease_s=lease_s,
        on_progress=on_progress,
        extend_deadline=True,
        wall=wall,
    )


async def run_under_lease(
    engine: Engine,
    job_id: str,
    token: int,
    *,
    owner: str,
    lease_s: float,
    on_progress: ProgressFn | None = None,
    extend_deadline: bool = False,
    wall: WallClock = utcnow,
) -> Job:
    """Run a job whose lease ``owner`` holds with ``token``: heartbeats keep it, every write is fenced by it,
    and it is given back at the end unless the job is finished."""
    store = engine.store
    polling = taken_over = False

    def progress(p: Progress) -> None:
        nonlocal polling
        polling = True  # past the paid submit: safe to interrupt
        if on_progress is not None:
            on_progress(p)

    run = asyncio.create_task(engine.run(job_id, progress, fence=token, extend_deadline=extend_deadline, wall=wall))

    async def beat() -> None:
        beats = Beats(engine.clock, lease_s)
        while True:
            await beats.until_due()
            started = engine.clock.monotonic()
            try:
                lost = await store.renew(owner, {job_id: token}, lease_s=lease_s, now=wall())
            except Exception:  # soon again; a lost lease surfaces as LeaseLost at the next write
                await beats.failed()
                continue
            beats.renewed(started)
            if lost and polling:  # taken over (a cancel, or another process after late beats): stop polling
                nonlocal taken_over
                taken_over = True
                run.cancel()
                return

    heartbeat = asyncio.create_task(beat(), name=f"veokit-heartbeat:{job_id}")
    job: Job | None = None
    try:
        try:
            job = await run  # cancelling our caller cancels the run too
        except asyncio.CancelledError:
            if not taken_over:
                raise
            job = await store.get(job_id)  # the job is someone else's now: report it as it stands
            # A cancel takes the lease first and writes `cancelled` after asking the provider: report its end,
            # not the moment in between (bounded: a canceller that died leaves the job to its lease).
            for _ in range(40):
                if job.state.terminal or ":cancel-" not in (job.lease_owner or ""):
                    break
                await engine.clock.sleep(0.25)
                job = await store.get(job_id)
        return job
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        if job is None or not job.state.terminal:
            # Give it back at once: an interrupted or failed run can be taken up by anyone, now.
            with contextlib.suppress(E.JobError):
                await store.release(job_id, fence=token, now=wall())
