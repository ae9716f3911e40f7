"""The one service layer: an async client used by every surface (the CLI, the agent tools, an HTTP service).
It owns the store, the providers and the engine; callers own nothing else and reach them only through it.

    async with VeoClient() as veo:
        job = await veo.generate(GenerateRequest(prompt="a red fox in snow"), provider="emulator")
        print(job.results[0].path)

Planning (:meth:`VeoClient.plan`) validates and prices a request before anything is recorded or paid;
recording (:meth:`~VeoClient.submit`) and running (:meth:`~VeoClient.wait`, workers) follow. Every run of a job
holds the store's lease, so processes sharing a store never run one job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from veokit import errors as E
from veokit.config import Settings, load_settings
from veokit.engine import reuse
from veokit.engine.budget import caps_from_settings
from veokit.engine.runner import Engine, Progress, ProgressFn, catalog_provider
from veokit.engine.worker import EventFn, Worker, WorkerConfig, operation_gone, revive_leased, run_leased, worker_id
from veokit.models.catalog import Catalog, Estimate, default_catalog
from veokit.models.inputs import BlobRef
from veokit.models.job import Job, JobEvent, JobState, utcnow
from veokit.models.request import GenerateRequest
from veokit.providers import registry
from veokit.providers.base import Cancellable, Provider
from veokit.providers.http import new_client
from veokit.resilience.clock import Clock, SystemClock
from veokit.resilience.polling import until_next_poll
from veokit.service import cancel as cancelling
from veokit.service import extension, output_dir
from veokit.service.batch import BatchItem
from veokit.service.batch_enqueue import EnqueuedBatch, enqueue_batch
from veokit.service.follow import StatusFn, follow
from veokit.service.meters import Meters
from veokit.service.next_step import status_line
from veokit.service.outcome import raise_for_job as raise_for_job
from veokit.service.planning import Plan, PlanMemo, check_limits, plan_request
from veokit.service.providers import build_provider, pick_provider
from veokit.service.resilience import resilience_from
from veokit.service.routing import Route, route
from veokit.service.tenants import Tenants
from veokit.store import migrate, open_store
from veokit.store.base import JobStore
from veokit.store.budget import SpendSummary
from veokit.store.sql import SqlJobStore
from veokit.store.tenancy import ApiKey

if TYPE_CHECKING:
    # Imported by the film methods: stitching, timelines and contact sheets (PyAV, NumPy, OpenTimelineIO), and
    # storyboards (a YAML parser), are not loaded by a process that only enqueues or runs jobs.
    from veokit.models.film_plan import FilmPlan
    from veokit.models.storyboard import Storyboard
    from veokit.service import film as films

WATCH_INTERVAL_S = 1.0  # how often wait() looks at a job another process (a worker) is running
NOT_STARTED = "VeoClient is not started: use `async with VeoClient() as veo`"


class VeoClient:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: JobStore | None = None,
        catalog: Catalog | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.catalog = catalog or default_catalog()
        self._opened_store = store
        # Every wait of this client's jobs, workers and watchers: real time unless a test injects its own.
        self.clock: Clock = clock or SystemClock()
        self._providers: dict[str, Provider] = {}
        self._started_engine: Engine | None = None
        self._tenants: Tenants | None = None
        self._download_client = new_client(timeout_s=300.0)
        self.budget = caps_from_settings(self.settings)
        # This process's lease owner when it runs jobs itself, so workers sharing the store leave them alone.
        self.owner = worker_id("client")
        self._workers: weakref.WeakSet[Worker] = weakref.WeakSet()  # this process's, stopped at once by a cancel

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def __aenter__(self) -> VeoClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        if self._opened_store is None:
            self._opened_store = await open_store(self.settings.database_url, data_dir=self.settings.data_dir)
        self._started_engine = Engine(
            store=self._opened_store,
            catalog=self.catalog,
            provider_for=self._provider,
            download_client=self._download_client,
            clock=self.clock,
            poll_scale=self.settings.poll_scale,
            deadline_s=self.settings.job_deadline_s,
            allow_retired=self.settings.allow_retired,
            resilience=resilience_from(self.settings, self.catalog),
            budget=self.budget,
        )
        self._tenants = Tenants(self._opened_store, self._started_engine, self.settings)

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()
        await self._download_client.aclose()
        if self._opened_store is not None:
            await self._opened_store.close()

    @property
    def started(self) -> bool:
        return self._started_engine is not None

    @property
    def tenants(self) -> Tenants:
        """The HTTP service's keys and each key's videos (see :mod:`veokit.service.tenants`)."""
        if self._tenants is None:
            raise RuntimeError(NOT_STARTED)
        return self._tenants

    @property
    def _store(self) -> JobStore:
        if self._opened_store is None:
            raise RuntimeError(NOT_STARTED)
        return self._opened_store

    @property
    def _engine(self) -> Engine:
        if self._started_engine is None:
            raise RuntimeError(NOT_STARTED)
        return self._started_engine

    def _provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = build_provider(name, self.settings, self.catalog)
            self._engine.poll_scale = min(self._engine.poll_scale, registry.get(name).poll_scale)
        return self._providers[name]

    # -- planning (no network, nothing recorded) ------------------------------------------------------------
    def plan(
        self,
        request: GenerateRequest,
        provider: str | None = None,
        *,
        max_cost_usd: float | None = None,
        extending: extension.ExtensionSource | None = None,
        out_dir: Path | None = None,
    ) -> Plan:
        """Resolve the provider (``auto`` too) and model, validate, price, and check the per-job cap and the
        caller's own ``max_cost_usd``; ``extending``: the source of ``request.video`` (see
        :meth:`extension_source`), which must be no longer than the planned model extends; ``out_dir`` (default:
        settings), which must be a directory veokit can write (created if missing). Typed errors name the
        field; see :mod:`veokit.service.planning`."""
        plan = self._plan_request(request, provider, max_cost_usd=max_cost_usd, extending=extending)
        output_dir.check_writable(out_dir or self.settings.out_dir)
        return plan

    def _plan_request(
        self,
        request: GenerateRequest,
        provider: str | None,
        *,
        max_cost_usd: float | None = None,
        extending: extension.ExtensionSource | None = None,
        memo: PlanMemo | None = None,
    ) -> Plan:
        """:meth:`plan` but for the output directory, which a batch checks once per distinct directory (and
        ``memo``: plans it shares between requests alike but for their prompts)."""
        plan = self._price(request, provider) if memo is None else memo.plan(request, provider)
        if extending is not None:
            extension.check_fits(extending, plan.offer)
        check_limits(plan, self.budget, max_cost_usd)
        return plan

    def estimate(self, request: GenerateRequest, provider: str | None = None) -> Estimate:
        """What the request would cost (validated; spending caps are :meth:`plan`'s business)."""
        return self._price(request, provider).estimate

    def route(self, request: GenerateRequest) -> Route:
        """Every ``auto`` candidate with its price and why it can or cannot take the request."""
        return route(request, self.catalog, self.settings)

    def _price(self, request: GenerateRequest, provider: str | None) -> Plan:
        return plan_request(request, provider, catalog=self.catalog, settings=self.settings)

    async def extension_source(
        self, source: str | Job, *, index: int = 0, provider: str | None = None, field: str = "video"
    ) -> extension.ExtensionSource:
        """The video to extend, checked (see :mod:`veokit.service.extension`): a previous job or its id
        (``job_…``; ``index`` picks one of its videos), a provider URI, or a local MP4 (probed). ``provider``
        is where the continuation will run, when already chosen; ``field`` names the input in errors."""
        if isinstance(source, str) and extension.is_job_id(source.strip()):
            source = await self._store.get(source.strip())
        if isinstance(source, Job):
            job = source
            return await asyncio.to_thread(
                extension.from_job, job, self.catalog, index=index, provider=provider, field=field
            )
        if "://" in source:
            return extension.from_uri(source.strip())
        return await asyncio.to_thread(extension.from_file, source, field=field)

    # -- recording and running ------------------------------------------------------------------------------
    async def submit(
        self,
        request: GenerateRequest | Plan,
        *,
        provider: str | None = None,
        out_dir: Path | None = None,
        client_key: str | None = None,
        note: str = "",
        fresh: bool = False,
    ) -> Job:
        """Record the job (no paid call yet); :meth:`wait` or a worker runs it. ``request`` is a request
        (planned here, with ``provider``) or a :class:`Plan` from :meth:`plan`.

        ``client_key`` makes enqueueing idempotent: the same key returns the job it first created. Unless
        ``fresh``, a request with a fixed seed identical to one that already succeeded (see
        :mod:`veokit.engine.reuse`) gets that video as a new job, succeeded at $0; one identical to a job still
        in flight waits for it and gets its video at $0 too (:mod:`veokit.store.twins`). A request over the
        per-job budget cap raises :class:`~veokit.errors.BudgetExceeded` and records nothing.
        """
        plan = request if isinstance(request, Plan) else self._price(request, provider)
        if client_key is not None:
            existing = await self._store.find_by_client_key(client_key)
            if existing is not None:
                return existing
        check_limits(plan, self.budget)
        target = await asyncio.to_thread(output_dir.check_writable, out_dir or self.settings.out_dir)
        source = None if fresh else await reuse.find_reusable(self._store, plan.request)
        if source is not None:
            return await reuse.reuse(
                self._store,
                source,
                plan.request,
                provider=plan.provider,
                out_dir=target,
                client_key=client_key,
                estimate_usd=plan.estimate.total_usd,
            )
        return await self._engine.enqueue(
            plan.request, plan.provider, target, client_key=client_key, note=note, fresh=fresh
        )

    async def wait(self, job_id: str, *, on_progress: ProgressFn | None = None) -> Job:
        """Run the job here, under a lease, until it ends or needs a decision. While another process (a
        worker) holds it, follow it in the store instead, and take it over if that process dies."""
        start = self.clock.monotonic()
        while True:
            try:
                ran = await run_leased(
                    self._engine,
                    job_id,
                    owner=self.owner,
                    lease_s=self.settings.worker_lease_s,
                    on_progress=on_progress,
                )
            except E.SubmitInFlight as exc:  # its paid call's outcome is still being settled: not a failure
                if on_progress is not None:
                    on_progress(Progress(job_id, "submitting", self.clock.monotonic() - start, None, 0, exc.message))
                await self.clock.sleep(max(exc.retry_after_s, WATCH_INTERVAL_S))
                continue
            if ran is not None:
                return ran
            job = await self._store.get(job_id)
            if not job.state.active:
                return job
            if on_progress is not None:
                holder = f"run by {job.lease_owner}" if job.lease_owner else "waiting for its retry time"
                on_progress(Progress(job.id, job.state.value, self.clock.monotonic() - start, None, 0, holder))
            await self.clock.sleep(WATCH_INTERVAL_S)

    async def generate(
        self,
        request: GenerateRequest | Plan,
        *,
        provider: str | None = None,
        out_dir: Path | None = None,
        on_progress: ProgressFn | None = None,
        retry_filtered: int | None = None,
    ) -> Job:
        """Submit and wait; return the succeeded job or raise the typed error the job ended with.

        ``retry_filtered`` (default: settings) resubmits a safety-filtered result that many times, each as
        a new job (and a new charge if it succeeds): Veo's audio filter gives false positives that pass
        on a second try. Filtered attempts cost nothing.
        """
        job = await self.submit(request, provider=provider, out_dir=out_dir)
        return raise_for_job(await self.finish(job.id, on_progress=on_progress, retry_filtered=retry_filtered))

    async def finish(
        self, job_id: str, *, on_progress: ProgressFn | None = None, retry_filtered: int | None = None
    ) -> Job:
        """Run a recorded job to its end (see :meth:`generate`); returns the last job, never raises for it."""
        tries = self.settings.retry_filtered if retry_filtered is None else retry_filtered
        job = await self.wait(job_id, on_progress=on_progress)
        for attempt in range(tries):
            if job.state is not JobState.FILTERED:
                break
            previous = job
            job = await self.submit(
                await self._engine.load_request(previous),
                provider=previous.provider,
                out_dir=Path(previous.out_dir),
                note=f"retry {attempt + 1} of {tries} after {previous.id} was filtered",
            )
            job = await self.wait(job.id, on_progress=on_progress)
        return job

    # -- jobs -----------------------------------------------------------------------------------------------
    # -- inputs -----------------------------------------------------------------------------------------------
    async def put_input(self, content: bytes | AsyncIterable[bytes], *, sha256: str | None = None) -> BlobRef:
        """Keep an input image or video in the job store once, named by its SHA-256 (streamed: flat memory
        however large it is), so requests can refer to it instead of carrying its bytes."""
        return await self._store.put_blob(content, sha256=sha256)

    def read_input(self, sha256: str) -> AsyncIterator[bytes]:
        """A stored input's content in chunks, checked against its hash after the last one."""
        return self._store.read_blob(sha256)

    async def jobs_by_key(self, keys: Iterable[str]) -> dict[str, Job]:
        """The jobs recorded under these client keys, by key; keys with no job are left out."""
        found: dict[str, Job] = {}
        for key in dict.fromkeys(keys):
            job = await self._store.find_by_client_key(key)
            if job is not None:
                found[key] = job
        return found

    async def get_job(self, job_id: str) -> Job:
        return await self._store.get(job_id)

    async def get_many(self, job_ids: Iterable[str]) -> list[Job]:
        """The jobs with these ids, in the order given; unknown ids are skipped."""
        return await self._store.get_many(job_ids)

    async def store_problem(self) -> str | None:
        """Why the job store cannot serve now (unreachable, or a schema other than the one this veokit knows, e.g.
        migrated by a newer veokit sharing it), in words; None when it can."""
        try:
            await self._store.list(limit=1)
            if isinstance(self._store, SqlJobStore):
                revisions = await self._store.schema_revisions()
                if revisions != [migrate.HEAD]:
                    found = ", ".join(revisions) or "none"
                    return f"the job store's schema is at revision {found}; this veokit needs {migrate.HEAD}"
        except Exception as exc:
            return f"the job store is not reachable ({type(exc).__name__})"
        return None

    async def list_jobs(self, *, states: Iterable[JobState] | None = None, limit: int = 50) -> list[Job]:
        return await self._store.list(states=states, limit=limit)

    async def events(self, job_id: str) -> list[JobEvent]:
        return await self._store.events(job_id)

    async def latest_succeeded(self) -> Job:
        """The newest job with videos (``veokit open`` with no id)."""
        jobs = await self._store.list(states=[JobState.SUCCEEDED], limit=1)
        if not jobs:
            raise E.JobNotFound("no job has produced a video yet")
        return jobs[0]

    async def gallery(self, out: Path, *, limit: int = 50, all_states: bool = False) -> tuple[int, int]:
        """Write an HTML contact sheet of the newest jobs to ``out`` (see :mod:`veokit.service.gallery`);
        returns (jobs, videos) shown."""
        from veokit.service import gallery  # PyAV, NumPy and Pillow: loaded by the command that draws

        states = None if all_states else [JobState.SUCCEEDED]
        jobs = await self._store.list(states=states, limit=limit)
        videos = await asyncio.to_thread(gallery.write_gallery, jobs, out)
        return len(jobs), videos

    async def reused_from(self, job: Job) -> str | None:
        """The job whose videos ``job`` reused ($0: same request and seed), or ``None`` if it made its own."""
        if job.state is not JobState.SUCCEEDED or job.submitted_at is not None:
            return None
        return reuse.reused_from(await self._store.events(job.id))

    async def status_line(self, job: Job) -> str:
        """The one line that says where ``job`` is and why, never with an empty reason."""
        events = await self._store.events(job.id) if job.state is JobState.NEEDS_ATTENTION and not job.error else []
        return status_line(job, events[-1].message if events else "")

    def progress_estimate(self, job: Job, now: dt.datetime | None = None) -> Progress:
        """Progress of a job this process does not run, from its submit time and the model's typical latency."""
        since = job.submitted_at or job.created_at
        end = job.finished_at or now or utcnow()
        elapsed = max(0.0, (end - since).total_seconds())
        offer = self.catalog.find(catalog_provider(job.provider), job.model)
        typical = offer.latency_s[1] * self.settings.poll_scale if offer else None
        remaining = None if typical is None else max(0.0, typical - elapsed)
        return Progress(job.id, job.state.value, elapsed, remaining, 0)

    def poll_after_s(self, job: Job, now: dt.datetime | None = None) -> float:
        """When news of an unfinished job can come next: its next scheduled poll (see
        :func:`veokit.resilience.polling.until_next_poll`); a queued or downloading job, about a second."""
        if job.state is not JobState.RUNNING:
            return 1.0
        since = job.submitted_at or job.created_at
        elapsed = max(0.0, ((now or utcnow()) - since).total_seconds())
        return until_next_poll(self._engine.poll_policy(job), elapsed)

    async def resume(self, job_id: str | None = None, *, on_progress: ProgressFn | None = None) -> list[Job]:
        """Finish unfinished jobs without ever submitting one a second time, always under the store's lease."""
        if job_id is not None:
            job = await self._store.get(job_id)
            if job.state is JobState.NEEDS_ATTENTION and job.operation_name:
                # Interrupted by a deadline while running: the operation exists, keep waiting on it.
                revived = await revive_leased(
                    self._engine,
                    job.id,
                    owner=self.owner,
                    lease_s=self.settings.worker_lease_s,
                    message="resumed by the user",
                    on_progress=on_progress,
                )
                return [revived]
            elif not job.state.active:
                raise E.JobStateError(f"job {job.id} is {job.state.value}; nothing to resume")
            jobs = [job]
        else:
            jobs = [j for j in await self._store.list(limit=10_000) if j.state.active]
        done = []
        for job in jobs:
            held = job.lease_expires_at is not None and job.lease_owner is not None and job.lease_expires_at > utcnow()
            if not registry.durable(job.provider) and job.state is not JobState.QUEUED and not held:
                done.append(
                    await self._store.transition(
                        job.id, expect=job.state, to=JobState.NEEDS_ATTENTION, message=operation_gone(job.provider)
                    )
                )
                continue
            if job_id is not None:
                done.append(await self.wait(job.id, on_progress=on_progress))
                continue
            # Every unfinished job: run those no live process holds; report the others as they are.
            ran = await run_leased(
                self._engine, job.id, owner=self.owner, lease_s=self.settings.worker_lease_s, on_progress=on_progress
            )
            done.append(ran if ran is not None else await self._store.get(job.id))
        return [await self._resubmit_if_free(j, on_progress) for j in done]

    async def _resubmit_if_free(self, job: Job, on_progress: ProgressFn | None) -> Job:
        """A job of a provider that charges nothing (the emulator) whose submit outcome is unknown: submitting it
        again cannot cost anything, so resume does it rather than asking the user to decide."""
        if job.state is not JobState.NEEDS_ATTENTION or job.operation_name or registry.real_money(job.provider):
            return job
        await self.retry(job.id)
        return await self.wait(job.id, on_progress=on_progress)

    async def retry(self, job_id: str) -> Job:
        """The user's decision for a job needing attention: submit it again (they accept paying twice)."""
        job = await self._store.get(job_id)
        if job.state is not JobState.NEEDS_ATTENTION:
            raise E.JobStateError(f"job {job.id} is {job.state.value}; only jobs needing attention can be retried")
        return await self._store.transition(
            job.id,
            expect=JobState.NEEDS_ATTENTION,
            to=JobState.QUEUED,
            operation_name=None,
            message="retry requested by the user",
        )

    async def reconcile(self, job_id: str, operation_name: str) -> Job:
        """The user's decision for a job needing attention whose submit did reach the provider (they found the
        operation in the console or logs): attach it and poll it, instead of paying again."""
        job = await self._store.get(job_id)
        if job.state is not JobState.NEEDS_ATTENTION:
            raise E.JobStateError(f"job {job.id} is {job.state.value}; only jobs needing attention can be reconciled")
        return await self._store.transition(
            job.id,
            expect=JobState.NEEDS_ATTENTION,
            to=JobState.RUNNING,
            operation_name=operation_name,
            error=None,
            submitted_at=job.submitted_at or utcnow(),
            message=f"reconciled by the user: operation {operation_name}",
        )

    async def abandon(self, job_id: str) -> Job:
        job = await self._store.get(job_id)
        if job.state.terminal:
            raise E.JobStateError(f"job {job.id} is already {job.state.value}")
        return await self._store.transition(
            job.id, expect=job.state, to=JobState.ABANDONED, message="abandoned by the user"
        )

    async def cancel(self, job_id: str) -> Job:
        """Stop a queued or running job: the provider's cancel is called where it has one, polling stops, and
        the job ends ``cancelled`` with the cost that stands (see :mod:`veokit.service.cancel`). A worker in
        this process stops at once; one elsewhere at its next step (its writes are fenced out)."""
        return await cancelling.cancel_job(
            self._store,
            job_id,
            owner=worker_id("cancel"),
            lease_s=self.settings.worker_lease_s,
            clock=self._engine.clock,
            provider_cancel=self._provider_cancel,
            stop_local=self._stop_local,
        )

    def _provider_cancel(self, name: str) -> cancelling.CancelFn | None:
        # Asked of the spec first: building a provider may start a server (the in-process emulator) for nothing.
        if not registry.get(name).supports(Cancellable):
            return None
        provider = self._provider(name)
        return provider.cancel if isinstance(provider, Cancellable) else None

    def _stop_local(self, job_id: str) -> None:
        for w in list(self._workers):
            w.drop(job_id)

    # -- many jobs: batches and workers ---------------------------------------------------------------------
    def worker_config(
        self,
        kind: str = "worker",
        *,
        concurrency: int | None = None,
        lease_s: float | None = None,
        drain: bool = False,
        take_over: str | None = None,
    ) -> WorkerConfig:
        """A worker's configuration: settings (``VEOKIT_WORKER_*``) unless given, and a fresh lease owner;
        ``take_over``: a lease owner known to be dead whose jobs it claims at once (see
        :mod:`veokit.service.instance`)."""
        try:
            return WorkerConfig(
                owner=worker_id(kind),
                concurrency=self.settings.worker_concurrency if concurrency is None else concurrency,
                lease_s=self.settings.worker_lease_s if lease_s is None else lease_s,
                drain=drain,
                take_over=take_over,
            )
        except ValueError as exc:
            raise E.InvalidRequest(str(exc), field="worker") from None

    def worker(self, config: WorkerConfig | None = None, *, on_event: EventFn | None = None) -> Worker:
        """A worker running queued jobs from this client's store (``await worker.run()``; ``worker.stop()``)."""
        made = Worker(self._engine, config or self.worker_config(), on_event=on_event)
        # Its first submit must not also build the provider (the provider's modules, a TLS context: 1.4 s measured
        # at load 4, more with other workers starting beside it): that sits between the first claim and the
        # first send, so it delays the whole quota's schedule, and it is built now, before the first claim.
        # A provider this process cannot build says why at the first job that needs it, as before.
        with contextlib.suppress(E.VeokitError):
            self._provider(self.default_provider())
        self._workers.add(made)
        return made

    async def enqueue_batch(
        self,
        items: list[BatchItem],
        *,
        provider: str | None = None,
        out_dir: Path | None = None,
        fresh: bool = False,
        source: str = "batch",
    ) -> EnqueuedBatch:
        """Plan every line, then record them all, idempotently (see :mod:`veokit.service.batch_enqueue`)."""
        return await enqueue_batch(self, items, provider=provider, out_dir=out_dir, fresh=fresh, source=source)

    async def follow(
        self,
        job_ids: list[str],
        *,
        run_here: WorkerConfig | None = None,
        on_status: StatusFn | None = None,
        stop: asyncio.Event | None = None,
    ) -> list[Job]:
        """Watch jobs until each has ended (or only budget-held ones remain, or ``stop`` is set), running them
        in this process too with a ``run_here`` worker (see :mod:`veokit.service.follow`)."""
        worker = self.worker(run_here, on_event=lambda line: None) if run_here is not None else None
        return await follow(self._store, job_ids, worker=worker, on_status=on_status, stop=stop, clock=self.clock)

    async def meters(self) -> Meters:
        """Jobs by state and provider, this process's engine counters and breakers, and today's spend."""
        today = dt.datetime.now(dt.UTC).date().isoformat()
        spend = await self._store.spend(since=today)
        by_provider: dict[str, float] = {}
        for row in spend.rows:
            by_provider[row.provider] = round(by_provider.get(row.provider, 0.0) + row.committed_usd, 4)
        c = self._engine.counters
        return Meters(
            jobs={(state.value, provider): n for (state, provider), n in (await self._store.counts()).items()},
            submits=dict(c.submits),
            polls=dict(c.polls),
            retries=dict(c.retries),
            rate_limited=dict(c.rate_limited),
            download_bytes=dict(c.download_bytes),
            breakers=self._engine.breaker_states(),
            spend_today_usd=by_provider,
        )

    # -- films (see veokit.service.film) ----------------------------------------------------------------------
    def default_provider(self) -> str:
        """The provider a request naming none goes to (settings, then the first with credentials)."""
        return pick_provider(self.settings, None)

    def film_plan(self, board: Storyboard | str | Path, *, provider: str | None = None) -> FilmPlan:
        """Check a storyboard against the catalog and price it (every take; nothing recorded, no store needed).
        Raises :class:`~veokit.errors.StoryboardError` naming the shot and field."""
        from veokit.service import film as films

        return films.plan(self, films.load(board), provider)

    async def film_status(
        self, board: Storyboard | str | Path, *, provider: str | None = None, owner: ApiKey | None = None
    ) -> films.FilmStatus:
        """The film as the store knows it: picks resolved, each take's job, what is still to pay. ``owner``: the
        film of that API key (see :mod:`veokit.service.film`)."""
        from veokit.service import film as films

        return await films.status(self, films.load(board), provider, owner)

    async def film_render(
        self,
        board: Storyboard | str | Path,
        *,
        out_dir: Path,
        provider: str | None = None,
        max_cost_usd: float | None = None,
        concurrency: int | None = None,
        on_event: films.EventFn | None = None,
        owner: ApiKey | None = None,
    ) -> films.FilmResult:
        """Render what the film is missing (resumable; never pays twice), then stitch it with its timeline and
        contact sheet into ``out_dir``. Budget caps are checked for the whole film before anything is paid."""
        from veokit.service import film as films

        return await films.render(
            self,
            films.load(board),
            provider=provider,
            out_dir=out_dir,
            max_cost_usd=max_cost_usd,
            concurrency=concurrency,
            on_event=on_event,
            owner=owner,
        )

    async def film_pick(
        self,
        board: Storyboard | str | Path,
        shot: str,
        take: int,
        *,
        provider: str | None = None,
        write: bool = True,
        owner: ApiKey | None = None,
    ) -> films.PickPreview:
        """Choose ``take`` of ``shot``: returns what re-rendering its dependents costs, and (``write``) sets
        ``pick`` in the storyboard file. Nothing is rendered: :meth:`film_render` then renders the dependents."""
        from veokit.models.storyboard import Storyboard
        from veokit.service import film as films

        preview = await films.preview_pick(self, films.load(board), shot, take, provider, owner)
        if write:
            if isinstance(board, Storyboard):
                raise TypeError("film_pick(write=True) needs the storyboard's file")
            await asyncio.to_thread(films.write_pick, board, shot, take)
        return preview

    # -- costs ----------------------------------------------------------------------------------------------
    async def costs(self, *, days: int | None = None) -> SpendSummary:
        """The cost ledger by UTC day, provider and model (the last ``days`` days, or all)."""
        since = None
        if days is not None:
            since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=max(days, 1) - 1)).isoformat()
        return await self._store.spend(since=since)
