"""Drive one job from queued to a terminal state, persisting every step before acting on it.

The order is what makes a crash harmless:
1. the job row exists (state ``queued``) before any paid call;
2. ``queued → submitting`` is written *before* the submit, so a crash during the submit is visible;
3. the operation name is written (``running``) before the first poll;
4. results are verified before ``succeeded``.
A job found in ``submitting`` after a crash is never submitted again: the provider may have accepted it,
so it goes to ``needs_attention`` and the user decides (``veokit jobs retry|abandon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from veokit import errors as E
from veokit.engine import inputs, submits
from veokit.engine import twins as engine_twins
from veokit.engine.download import download
from veokit.engine.pacing import StoreSlots
from veokit.media.probe import CorruptMediaError, Expectation, verify_mp4
from veokit.models.catalog import Catalog, Estimate, Offer
from veokit.models.job import Job, JobState, VideoResult, new_job_id, utcnow
from veokit.models.request import GenerateRequest
from veokit.providers import registry
from veokit.providers.base import FindsSubmits, OperationStatus, OpState, Provider
from veokit.resilience.breaker import CircuitBreaker
from veokit.resilience.calls import RetryNote, call_with_retries
from veokit.resilience.clock import Clock, SystemClock
from veokit.resilience.gate import ProviderGate
from veokit.resilience.polling import PollPolicy, expected_remaining, next_poll_delay
from veokit.resilience.retry import RetryPolicy, backoff, server_hint
from veokit.store import twins
from veokit.store.base import JobStore
from veokit.store.budget import BudgetCaps
from veokit.store.fenced import FencedStore, lease_fence
from veokit.store.tenancy import KeyLimits, Ownership

S = JobState
TWIN_CHECK_S = 5.0


@dataclass(frozen=True)
class Progress:
    job_id: str
    state: str
    elapsed_s: float
    expected_remaining_s: float | None
    polls: int
    message: str = ""


ProgressFn = Callable[[Progress], None]


def catalog_provider(provider: str) -> str:
    """The catalog rows a provider sells (its spec's ``catalog``: the emulator sells Vertex's)."""
    return registry.catalog_key(provider)


def _slug(text: str, n: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:n].rstrip("-") or "video"


@dataclass(frozen=True)
class NewJob:
    """A request to record as a queued job (see :meth:`Engine.enqueue_many`)."""

    request: GenerateRequest
    provider: str
    out_dir: Path
    client_key: str | None = None
    note: str = ""
    # The request's catalog row and price when the caller has just validated it (a service Plan): not again.
    priced: tuple[Offer, Estimate] | None = None
    job_id: str | None = None  # chosen by the caller (the HTTP service answers with it before recording)
    fresh: bool = False  # never wait for an identical seeded job in flight (store/twins.py), nor be waited for


@dataclass
class Counters:
    """What this engine did, per provider, since it started: for a service's metrics."""

    submits: Counter[str] = field(default_factory=Counter)  # paid calls made (retries included)
    polls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)  # submit retries and failed polls
    rate_limited: Counter[str] = field(default_factory=Counter)  # 429s answered
    download_bytes: Counter[str] = field(default_factory=Counter)


@dataclass
class Resilience:
    """How the engine treats failures; built from settings by the service layer."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate_limits: dict[str, tuple[float, float]] = field(default_factory=dict)  # provider → (count, period)
    max_in_flight: int | None = None
    failover: tuple[str, ...] = ()  # ordered providers to move on to
    failover_on_filter: bool = False
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    download_attempts: int = 3
    seed: int | None = None


class Engine:
    def __init__(
        self,
        *,
        store: JobStore,
        catalog: Catalog,
        provider_for: Callable[[str], Provider],
        download_client: httpx.AsyncClient,
        clock: Clock | None = None,
        poll_scale: float = 1.0,
        deadline_s: float | None = None,
        allow_retired: bool = False,
        resilience: Resilience | None = None,
        budget: BudgetCaps | None = None,
    ) -> None:
        # Writes carry the lease token of the run in progress, if any (see run(fence=...)).
        self.store = FencedStore.wrap(store)
        self.budget = budget  # spending caps, checked atomically with each queued → submitting
        self.catalog = catalog
        self.provider_for = provider_for
        self.download_client = download_client
        self.clock = clock or SystemClock()
        self.poll_scale = poll_scale
        self.deadline_s = deadline_s
        self.allow_retired = allow_retired
        self.resilience = resilience or Resilience()
        self.rng = random.Random(self.resilience.seed)
        # How often a job waiting for its twin looks at it: as often as polls go at this engine's time scale.
        self.twin_check_s = max(0.02, TWIN_CHECK_S * poll_scale)
        self._gates: dict[str, ProviderGate] = {}
        self._slots = StoreSlots(self.store, self.clock)
        self._resumed: dict[str, int] = {}  # downloads resumed with Range, reported on success
        self._breakers: dict[str, CircuitBreaker] = {}
        self.counters = Counters()

    def breaker_states(self) -> dict[str, str]:
        """Each provider's circuit: closed, open or half_open (only providers this engine has called)."""
        return {name: b.state.value for name, b in self._breakers.items()}

    def gate(self, provider: str) -> ProviderGate:
        if provider not in self._gates:
            r = self.resilience
            # Slots come from the store: workers sharing it pace one quota per provider between them.
            self._gates[provider] = ProviderGate(
                self.clock,
                rate=r.rate_limits.get(provider),
                max_in_flight=r.max_in_flight,
                slots=self._slots,
                key=provider,
            )
        return self._gates[provider]

    def breaker(self, provider: str) -> CircuitBreaker:
        if provider not in self._breakers:
            r = self.resilience
            self._breakers[provider] = CircuitBreaker(
                provider, self.clock, threshold=r.breaker_threshold, cooldown_s=r.breaker_cooldown_s
            )
        return self._breakers[provider]

    # -- enqueue --------------------------------------------------------------------------------------------
    def validate(self, request: GenerateRequest, provider: str) -> Offer:
        """The catalog's checks and the provider's options (:class:`InvalidRequest` naming the field)."""
        offer = self.catalog.validate(request, catalog_provider(provider), allow_retired=self.allow_retired)
        registry.get(provider).check_options(request)
        return offer

    async def enqueue(
        self,
        request: GenerateRequest,
        provider: str,
        out_dir: Path,
        *,
        client_key: str | None = None,
        note: str = "",
        owner: Ownership | None = None,
        limits: KeyLimits | None = None,
        job_id: str | None = None,
        fresh: bool = False,
    ) -> Job:
        """Record a queued job. ``owner``: a key of the HTTP service, whose ``limits`` are checked atomically
        with the insert (:meth:`~veokit.store.base.JobStore.create_owned`)."""
        job, message = await self._new_job(
            NewJob(request, provider, out_dir, client_key, note, job_id=job_id, fresh=fresh)
        )
        if owner is not None:
            created, _ = await self.store.create_owned(job, owner, limits=limits, message=message)
            return created
        return await self.store.create(job, message=message)

    async def enqueue_many(self, new: list[NewJob]) -> list[tuple[Job, bool]]:
        """:meth:`enqueue` for many requests in few transactions (:meth:`JobStore.create_many`): each job is
        recorded whole or not at all, and a ``client_key`` already recorded answers with its job and ``False``."""
        built = [await self._new_job(n) for n in new]
        return await self.store.create_many([job for job, _ in built], messages=[m for _, m in built])

    async def _new_job(self, new: NewJob) -> tuple[Job, str]:
        if new.priced is not None:
            offer, estimate = new.priced
        else:
            offer = self.validate(new.request, new.provider)
            estimate = self.catalog.estimate(new.request, offer)
        stored = await inputs.record(self.store, new.request)
        now = utcnow()
        job_id = new.job_id or new_job_id()
        job = Job(
            id=job_id,
            state=S.QUEUED,
            provider=new.provider,
            model=offer.model,
            request=stored,
            fingerprint=new.request.fingerprint(),
            client_key=new.client_key,
            out_dir=os.path.abspath(new.out_dir),  # noqa: ASYNC240 - string work, no I/O
            estimate_usd=estimate.total_usd,
            created_at=now,
            updated_at=now,
            fresh=new.fresh,
        )
        return job, f"queued; estimate {estimate.describe()}" + (f"; {new.note}" if new.note else "")

    # -- run ------------------------------------------------------------------------------------------------
    async def run(
        self,
        job_id: str,
        on_progress: ProgressFn | None = None,
        *,
        fence: int | None = None,
        extend_deadline: bool = False,
        wall: Callable[[], dt.datetime] = utcnow,
        claimed: list[Job] | None = None,
    ) -> Job:
        """Advance the job as far as it can go; return it in its final (or attention-needing) state.

        ``fence``: the caller's lease token (a worker). Every state change is then fenced by it and raises
        :class:`~veokit.errors.LeaseLost`, changing nothing, once another worker has claimed the job.
        ``wall``: the wall clock the caller's leases use (how long ago another worker's submit began).
        ``claimed``: the job as the claim that took its lease returned it, to start from instead of reading
        it again; taken out of the list, so that no caller's frame keeps it for as long as the job polls.
        """
        # Set for this task (and tasks it starts): every store write below, including any added later, is then a
        # compare-and-set on the token without threading it through each call. One frame, not a second call of
        # run() inside the fence: a frame is held for as long as the job polls, per job in flight.
        with lease_fence(fence) if fence is not None else contextlib.nullcontext():
            job: Job | None = claimed.pop() if claimed else await self.store.get(job_id)
            passed: frozenset[str] = frozenset()
            while True:
                assert job is not None
                if job.state is S.QUEUED and twins.eligible(job):
                    # Outside the provider's slots: a job waiting for its twin must not keep that twin from running.
                    job, passed = await self._await_twin(job, on_progress, wall)
                    if job.state is not S.QUEUED:
                        return job
                slots = self.gate(job.provider).in_flight if job.state.active else None
                # Handed over in a box that _run empties: this frame must not keep the row it started from (the
                # queued one) while the job polls for hours.
                start, job = [job], None
                try:
                    if slots is None:
                        return await self._run(start, on_progress, extend_deadline, wall, passed)
                    async with slots:  # at most max_in_flight jobs of this provider between submit and done
                        start[0] = await self.store.get(job_id)
                        return await self._run(start, on_progress, extend_deadline, wall, passed)
                except E.TwinInFlight:  # the store named a twin being paid for: wait for it (twin_of), then again
                    job = await self.store.get(job_id)

    async def _await_twin(
        self, job: Job, on_progress: ProgressFn | None, wall: Callable[[], dt.datetime]
    ) -> tuple[Job, frozenset[str]]:
        start = self.clock.monotonic()

        def waiting(twin: Job) -> None:
            if on_progress is not None:  # a worker counts the job as past its start: safe to interrupt, nothing sent
                message = f"waiting for its twin {twin.id} ({twin.state.value}): same request and seed, paid once"
                on_progress(Progress(job.id, job.state.value, self.clock.monotonic() - start, None, 0, message))

        return await engine_twins.await_twin(
            self.store, job, clock=self.clock, interval_s=self.twin_check_s, now=wall, waiting=waiting
        )

    async def _run(
        self,
        start: list[Job],
        on_progress: ProgressFn | None,
        extend_deadline: bool = False,
        wall: Callable[[], dt.datetime] = utcnow,
        passed: frozenset[str] = frozenset(),
    ) -> Job:
        job = start.pop()
        notify = on_progress or (lambda p: None)
        if job.state is S.SUBMITTING:
            # Continued, looked up, or set aside: never sent again blindly (engine/submits.py).
            found = job
            try:
                provider: Provider | None = self.provider_for(job.provider)
            except E.VeokitError:  # not configured here: it cannot be asked, which settles nothing
                provider = None
            job = await submits.settle(self.store, job, provider, lambda: self._wire_request(found), now=wall())
        if job.state is S.QUEUED:
            job = await self._submit(job, twins_passed=passed, wall=wall)
            if job.state is S.QUEUED:
                # The provider's listing showed the submit never arrived (engine/submits.py): nothing was paid,
                # so it is sent once more now rather than left for the next run.
                job = await self._submit(job, twins_passed=passed, wall=wall)
        if job.state in (S.RUNNING, S.DOWNLOADING):
            job = await self._poll_and_finish(job, notify, extend_deadline=extend_deadline)
        return job

    async def _wire_request(self, job: Job) -> GenerateRequest:
        """The request as its submit sent it (the job's model wins: failover may have moved it)."""
        return (await inputs.load(self.store, job)).model_copy(update={"model": job.model})

    async def load_request(self, job: Job) -> GenerateRequest:
        """The job's request with its input images and video read back from the store, ready to send."""
        return await inputs.load(self.store, job)

    async def _submit(
        self,
        job: Job,
        loaded: GenerateRequest | None = None,
        *,
        twins_passed: frozenset[str] = frozenset(),
        wall: Callable[[], dt.datetime] = utcnow,
    ) -> Job:
        if loaded is None:
            # Read before `submitting` is written: a crash while reading a large input leaves the job queued,
            # not looking as if it might have been paid for.
            try:
                loaded = await inputs.load(self.store, job)
            except E.InvalidRequest as exc:
                return await self.store.transition(
                    job.id, expect=S.QUEUED, to=S.FAILED, error=exc.to_dict(), cost_usd=0.0, message=exc.message
                )
        # The job's model wins over the request's: failover may have moved it to another provider's id.
        request = loaded.model_copy(update={"model": job.model})
        provider = self.provider_for(job.provider)
        gate, breaker = self.gate(job.provider), self.breaker(job.provider)
        # The pacing wait comes before `submitting` is written: a job waiting for the rate limiter has sent
        # nothing, and must not look as if it might have been paid for if the process dies meanwhile.
        # (The breaker is asked inside the attempt, once `submitting` is written: an open circuit is then a
        # submit that failed before sending, which fails over like any other.)
        released = await gate.before_request()
        # Reserves the estimate in the cost ledger and checks the caps in the same transaction
        # (BudgetExceeded: nothing written, the job stays queued). It also records the submit begun. An identical
        # seeded job being paid for holds it back instead (TwinInFlight: see store/twins.py).
        begun = await self.store.begin_submit(
            job.id,
            caps=self.budget,
            attempts=job.attempts + 1,
            message=f"submitting to {job.provider}",
            now=wall(),
            passed=twins_passed,
        )
        job, seq = begun.job, begun.seq
        notes: list[RetryNote] = []
        paced = True

        async def attempt() -> str:
            nonlocal paced, released
            breaker.allow()
            if paced:
                # The wait came before `begin_submit`, whose fenced write has just proved the lease: asking the
                # database again would only put one more round trip between the slot and the send.
                paced = False
            else:
                released = await gate.before_request()
                # A worker whose lease lapsed while it waited must not send: the job's next holder decides now.
                await self.store.check_fence(job.id)
            self.counters.submits[job.provider] += 1
            late_s = self.clock.monotonic() - released.at  # the writes between slot and send, cold or queued
            try:
                name = await provider.submit(request)
            except E.VeokitError as exc:
                gate.sent(released, late_s)
                breaker.record(exc)
                if isinstance(exc, E.RateLimited):  # slow the whole provider down, not only this job
                    self.counters.rate_limited[job.provider] += 1
                    gate.rate_limited(exc.retry_after_s, self.resilience.retry.base_s)
                raise
            breaker.record(None)
            gate.succeeded()
            gate.sent(released, late_s)
            return name

        async def noted(note: RetryNote) -> None:
            self.counters.retries[job.provider] += 1
            notes.append(note)  # written with the next transition: `submitting` has no self-transition

        try:
            name = await call_with_retries(
                attempt, policy=self.resilience.retry, clock=self.clock, rng=self.rng, on_retry=noted
            )
        except E.SubmitOutcomeUnknown as exc:
            if isinstance(provider, FindsSubmits):
                # The provider can say whether it took the request: ask it (once its front end has settled)
                # instead of asking the user. The answer continues the job, queues it again, or sets it aside.
                await self.clock.sleep(submits.LISTING_SETTLE_S)
                return await submits.settle(
                    self.store, job, provider, lambda: self._wire_request(job), call_over=True, after=exc.message
                )
            why = (
                f"{exc.message}. Check the provider console, then `veokit jobs retry {job.id}` or "
                f"`veokit jobs abandon {job.id}`"
            )
            await self.store.transition(
                job.id,
                expect=S.SUBMITTING,
                to=S.NEEDS_ATTENTION,
                attempts=job.attempts + len(notes),
                error={**exc.to_dict(), "message": why},
                message=why + "".join(f"; {n.describe('submit')}" for n in notes),
            )
            raise E.SubmitOutcomeUnknown(why, provider=exc.provider) from None
        except E.VeokitError as exc:
            history = "".join(f"; {n.describe('submit')}" for n in notes)
            nxt = self._failover_target(job, loaded, exc)
            if nxt is not None:
                to_provider, offer = nxt
                moved = await self.store.transition(
                    job.id,
                    expect=S.SUBMITTING,
                    to=S.QUEUED,
                    provider=to_provider,
                    model=offer.model,
                    attempts=job.attempts + len(notes),
                    error=exc.to_dict(),
                    message=f"failover {job.provider} → {to_provider} ({offer.model}): {exc.message}{history}",
                )
                return await self._submit(moved, loaded, twins_passed=twins_passed, wall=wall)
            await self.store.transition(
                job.id,
                expect=S.SUBMITTING,
                to=S.FAILED,
                error=exc.to_dict(),
                attempts=job.attempts + len(notes),
                cost_usd=0.0,
                message=f"{exc.message}{history}",
            )
            raise
        history = "".join(f"; {n.describe('submit')}" for n in notes)
        return await submits.record(
            self.store, job, seq, name, f"operation {name}{history}", attempts=job.attempts + len(notes)
        )

    def _failover_target(self, job: Job, request: GenerateRequest, exc: E.VeokitError) -> tuple[str, Offer] | None:
        """The next provider to try, when the error says this one cannot serve the request now."""
        r = self.resilience
        movable = (
            exc.retryable
            or isinstance(exc, E.CircuitOpen | E.QuotaExhausted)
            or (r.failover_on_filter and isinstance(exc, E.ContentFiltered))
        )
        if not movable or job.provider not in r.failover:
            return None
        for name in r.failover[r.failover.index(job.provider) + 1 :]:
            offer = self.catalog.equivalent(
                catalog_provider(job.provider), job.model, catalog_provider(name), allow_retired=self.allow_retired
            )
            if offer is None:
                continue
            try:  # the same request there, options included: a provider without them is no equivalent
                self.validate(request.model_copy(update={"model": offer.model}), name)
            except E.InvalidRequest:
                continue
            return name, offer
        return None

    def poll_policy(self, job: Job) -> PollPolicy:
        """The job's poll schedule: its model's latency, this engine's scale and deadline."""
        offer = self.catalog.find(catalog_provider(job.provider), job.model)
        latency = offer.latency_s if offer else (11.0, 60.0, 360.0)
        return PollPolicy.for_latency(latency, deadline_s=self.deadline_s, scale=self.poll_scale)

    async def _poll_and_finish(self, job: Job, notify: ProgressFn, *, extend_deadline: bool = False) -> Job:
        provider = self.provider_for(job.provider)
        assert job.operation_name is not None
        policy = self.poll_policy(job)
        retry = self.resilience.retry
        out_dir = Path(job.out_dir)
        submitted = job.submitted_at or job.created_at
        # Time already spent before a resume counts toward the schedule (wall clock, not the injected one).
        start = self.clock.monotonic() - max(0.0, (utcnow() - submitted).total_seconds())
        polls = 0
        poll_failures = 0  # consecutive
        download_failures = 0
        fetch_now = job.state is S.DOWNLOADING  # results were ready before an interruption: fetch them now
        # After the user chose to keep waiting on a job set aside at its deadline, it gets a new one from now.
        deadline_start = self.clock.monotonic() if extend_deadline else start
        extra_wait = 0.0

        def retry_wait(failures: int, exc: E.VeokitError) -> float:
            """Polls and downloads are retried until the job's deadline: only the wait comes from the policy."""
            left = policy.deadline_s - (self.clock.monotonic() - deadline_start)
            return backoff(
                failures,
                base_s=retry.base_s,
                cap_s=retry.cap_s,
                rng=self.rng,
                hint_s=server_hint(exc),
                remaining_s=left,
            )

        while True:
            elapsed = self.clock.monotonic() - start
            delay = 0.0 if fetch_now else max(extra_wait, next_poll_delay(policy, polls_done=polls, elapsed_s=elapsed))
            fetch_now, extra_wait = False, 0.0
            notify(Progress(job.id, job.state.value, elapsed, expected_remaining(policy, elapsed), polls))
            if self.clock.monotonic() - deadline_start >= policy.deadline_s:
                return await self._deadline(job, elapsed)
            await self.clock.sleep(delay)
            polls += 1
            self.counters.polls[job.provider] += 1
            try:
                status = await provider.poll(job.operation_name, spool_dir=out_dir)
            except E.VeokitError as exc:
                if not exc.retryable:
                    return await self._poll_refused(job, exc)
                self.counters.retries[job.provider] += 1
                if isinstance(exc, E.RateLimited):
                    self.counters.rate_limited[job.provider] += 1
                # A failed poll costs nothing and changes nothing: note it, wait (the server's hint if it gave
                # one, else backoff), poll again. Only the job's deadline ends this.
                poll_failures += 1
                extra_wait = retry_wait(poll_failures, exc)
                job = await self.store.transition(
                    job.id,
                    expect=job.state,
                    to=job.state,
                    message=f"poll failed ({type(exc).__name__}: {exc.message[:120]}); retrying in {extra_wait:.2f} s",
                )
                continue
            poll_failures = 0
            if status.state is OpState.RUNNING:
                continue
            try:
                return await self._finish(job, status, notify, polls, self.clock.monotonic() - start)
            except E.DownloadError as exc:
                download_failures += 1
                job = await self.store.get(job.id)
                if (
                    isinstance(exc, E.DownloadExpired)
                    or not exc.retryable
                    or download_failures >= self.resilience.download_attempts
                ):
                    return await self._download_gave_up(job, exc, download_failures)
                # Re-poll first: Vertex sends the bytes again, Gemini/GCS give a fresh reference.
                fetch_now = True
                await self.clock.sleep(retry_wait(download_failures, exc))

    async def _poll_refused(self, job: Job, exc: E.VeokitError) -> Job:
        """The provider will not tell us about the operation (deleted, credentials revoked…)."""
        return await self.store.transition(
            job.id,
            expect=job.state,
            to=S.NEEDS_ATTENTION,
            error=exc.to_dict(),
            message=f"cannot poll the operation: {exc.message}. Fix the cause, then `veokit resume {job.id}`",
        )

    async def _download_gave_up(self, job: Job, exc: E.DownloadError, tries: int) -> Job:
        if isinstance(exc, E.DownloadExpired):
            # Paid for and gone: the cost stands, the video is lost. Say so plainly.
            return await self.store.transition(
                job.id,
                expect=S.DOWNLOADING,
                to=S.FAILED,
                error=exc.to_dict(),
                cost_usd=job.estimate_usd,
                message=exc.message,
            )
        await self.store.transition(
            job.id,
            expect=S.DOWNLOADING,
            to=S.DOWNLOADING,
            error=exc.to_dict(),
            message=f"download failed {tries} times: {exc.message}; `veokit resume {job.id}` tries again",
        )
        raise exc

    async def _deadline(self, job: Job, elapsed: float) -> Job:
        return await self.store.transition(
            job.id,
            expect=job.state,
            to=S.NEEDS_ATTENTION,
            error=E.DeadlineExceeded(f"still running after {elapsed:.0f} s", provider=job.provider).to_dict(),
            message=f"still running after {elapsed:.0f} s (deadline). `veokit resume {job.id}` keeps waiting; "
            f"`veokit jobs abandon {job.id}` gives up",
        )

    async def _finish(self, job: Job, status: OperationStatus, notify: ProgressFn, polls: int, elapsed: float) -> Job:
        if status.state is OpState.FILTERED:
            assert status.error is not None
            return await self.store.transition(
                job.id,
                expect=job.state,
                to=S.FILTERED,
                cost_usd=0.0,
                error=status.error.to_dict(),
                message=status.error.message,
            )
        if status.state is OpState.FAILED:
            assert status.error is not None
            return await self.store.transition(
                job.id,
                expect=job.state,
                to=S.FAILED,
                cost_usd=0.0,
                error=status.error.to_dict(),
                message=status.error.message,
            )
        if job.state is S.RUNNING:
            job = await self.store.transition(
                job.id, expect=S.RUNNING, to=S.DOWNLOADING, message=f"{len(status.videos)} video(s) ready"
            )
        notify(Progress(job.id, job.state.value, elapsed, 0.0, polls, "downloading"))
        results = await self._download_all(job, status)
        if status.cost_usd is not None:
            # The provider reported what it billed (token usage): that is the cost, not our estimate.
            cost = round(status.cost_usd, 6)
            basis = f" from usage ({status.usage.describe()})" if status.usage else " as reported"
            basis += f"; estimate ${job.estimate_usd:.4f}"
        else:
            request = inputs.stored_request(job)
            offer = self.catalog.find(catalog_provider(job.provider), job.model)
            rate = offer.rate(request.resolution, offer.audio_on(request)) if offer else 0.0
            cost, basis = round(rate * request.duration_seconds * len(results), 4), ""
        resumed = self._resumed.pop(job.id, 0)
        note = f"; download resumed {resumed}x after a cut connection" if resumed else ""
        partial = _partial_filter(job, status, len(results))
        if partial is not None:
            note += f"; {partial.message}"
        job = await self.store.transition(
            job.id,
            expect=S.DOWNLOADING,
            to=S.SUCCEEDED,
            results=results,
            cost_usd=cost,
            error={**partial.to_dict(), "filtered_count": status.filtered_count} if partial else None,
            message=f"saved {len(results)} video(s); cost ${cost:.2f}{basis}{note}",
        )
        notify(Progress(job.id, job.state.value, elapsed, 0.0, polls, "done"))
        return job

    async def _download_all(self, job: Job, status: OperationStatus) -> list[VideoResult]:
        request = inputs.stored_request(job)
        offer = self.catalog.find(catalog_provider(job.provider), job.model)
        provider = self.provider_for(job.provider)
        width, height = self.catalog.dims(request.resolution, request.aspect_ratio)
        expect = Expectation(
            width=width,
            height=height,
            duration_s=None if request.video is not None else float(request.duration_seconds),
            audio=offer.audio_on(request) if offer else None,
        )
        out_dir = Path(job.out_dir)
        stem = f"{_slug(request.prompt)}-{job.id[-8:]}"
        results: list[VideoResult] = []
        try:
            for video in status.videos:
                suffix = f"-{video.index + 1}" if len(status.videos) > 1 else ""
                dest = out_dir / f"{stem}{suffix}.mp4"
                if video.inline_path is not None:
                    os.replace(video.inline_path, dest)  # spooled beside the target: an atomic rename
                    sha, size = str(video.inline_sha256), int(video.inline_size or 0)
                else:
                    target = await provider.download_target(video)
                    got = await download(self.download_client, target, dest, provider=job.provider)
                    sha, size = got.sha256, got.size
                    self._resumed[job.id] = self._resumed.get(job.id, 0) + got.resumes
                self.counters.download_bytes[job.provider] += size
                try:
                    # Reads sample tables and decodes frames: milliseconds of CPU per video, off the event loop
                    # so a thousand polling jobs are not held up by it.
                    probe = await asyncio.to_thread(verify_mp4, dest, expect)
                except CorruptMediaError as exc:
                    dest.unlink(missing_ok=True)
                    raise E.CorruptVideo(
                        f"{job.provider}: downloaded video is not valid: {exc}", provider=job.provider
                    ) from None
                results.append(
                    VideoResult(
                        index=video.index,
                        path=str(dest),
                        sha256=sha,
                        size_bytes=size,
                        width=probe.width,
                        height=probe.height,
                        duration_s=probe.duration_s,
                        fps=probe.fps,
                        video_codec=probe.video_codec,
                        audio_codec=probe.audio_codec,
                        remote_uri=video.uri,
                        usage=status.usage if len(status.videos) == 1 else None,
                    )
                )
        except E.VeokitError as exc:
            for v in status.videos:  # spooled inline files we did not get to
                if v.inline_path is not None:
                    v.inline_path.unlink(missing_ok=True)
            await self.store.transition(
                job.id,
                expect=S.DOWNLOADING,
                to=S.DOWNLOADING,
                error=exc.to_dict(),
                message=f"download failed: {exc.message}",
            )
            if not isinstance(exc, E.DownloadError):
                raise E.DownloadError(
                    exc.message, provider=exc.provider, status_code=exc.status_code, retryable=exc.retryable
                ) from None
            raise
        return results


def _partial_filter(job: Job, status: OperationStatus, delivered: int) -> E.ContentFiltered | None:
    """Some samples blocked, others delivered: the job succeeds with the videos that exist (only those are paid
    for), and this note says how many were blocked and why. It is kept as the succeeded job's ``error``."""
    if status.filtered_count <= 0:  # a count of 0 (with or without reasons) blocked nothing
        return None
    why = "; ".join(status.filtered_reasons) or "no reason given"
    asked = delivered + status.filtered_count
    return E.ContentFiltered(
        f"{status.filtered_count} of {asked} video(s) blocked by the safety filter (not charged): {why}",
        provider=job.provider,
        reasons=list(status.filtered_reasons),
        status="RAI_PARTIALLY_FILTERED",
    )
