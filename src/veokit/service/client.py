"""The one service layer: an async client (and its sync facade) used by the CLI, and later the HTTP
service and agent tools. It owns the store, the providers and the engine; callers own nothing else.

    async with VeoClient() as veo:
        job = await veo.generate(GenerateRequest(prompt="a red fox in snow"), provider="emulator")
        print(job.results[0].path)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

from veokit import errors as E
from veokit.config import AUTO, Settings, load_settings
from veokit.engine import reuse
from veokit.engine.budget import caps_from_settings
from veokit.engine.runner import Engine, Progress, ProgressFn, catalog_provider
from veokit.engine.worker import operation_gone, run_leased, worker_id
from veokit.models.catalog import Catalog, Estimate, Offer, default_catalog
from veokit.models.job import Job, JobEvent, JobState, utcnow
from veokit.models.request import GenerateRequest
from veokit.providers import registry
from veokit.providers.base import Provider
from veokit.providers.http import new_client
from veokit.resilience.clock import Clock
from veokit.service.providers import build_provider, pick_provider
from veokit.service.resilience import resilience_from
from veokit.service.routing import route
from veokit.store import open_store
from veokit.store.base import JobStore
from veokit.store.budget import SpendSummary

T = TypeVar("T")
WATCH_INTERVAL_S = 1.0  # how often wait() looks at a job another process (a worker) is running


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
        self._store = store
        self._clock = clock
        self._providers: dict[str, Provider] = {}
        self._engine: Engine | None = None
        self._download_client = new_client(timeout_s=300.0)
        self.budget = caps_from_settings(self.settings)
        # This process's lease owner when it runs jobs itself, so workers sharing the store leave them alone.
        self.owner = worker_id("client")

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def __aenter__(self) -> VeoClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        if self._store is None:
            self._store = await open_store(self.settings.database_url, data_dir=self.settings.data_dir)
        self._engine = Engine(
            store=self._store,
            catalog=self.catalog,
            provider_for=self._provider,
            download_client=self._download_client,
            clock=self._clock,
            poll_scale=self.settings.poll_scale,
            deadline_s=self.settings.job_deadline_s,
            allow_retired=self.settings.allow_retired,
            resilience=resilience_from(self.settings, self.catalog),
            budget=self.budget,
        )

    async def aclose(self) -> None:
        for p in self._providers.values():
            await p.aclose()
        self._providers.clear()
        await self._download_client.aclose()
        if self._store is not None:
            await self._store.close()

    @property
    def store(self) -> JobStore:
        if self._store is None:
            raise RuntimeError("VeoClient is not started: use `async with VeoClient() as veo`")
        return self._store

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("VeoClient is not started: use `async with VeoClient() as veo`")
        return self._engine

    def _provider(self, name: str) -> Provider:
        if name not in self._providers:
            self._providers[name] = build_provider(name, self.settings, self.catalog)
            self.engine.poll_scale = min(self.engine.poll_scale, registry.get(name).poll_scale)
        return self._providers[name]

    # -- requests -------------------------------------------------------------------------------------------
    def resolve(self, request: GenerateRequest, provider: str | None = None) -> tuple[GenerateRequest, str, Offer]:
        """Fill in provider and model, validate against the catalog; no network."""
        if (provider or self.settings.provider) == AUTO:
            return route(request, self.catalog, self.settings).resolved()
        name = pick_provider(self.settings, provider)
        if request.model is None:
            model = self.settings.model or self.catalog.default_model(catalog_provider(name))
            request = request.model_copy(update={"model": model})
        offer = self.catalog.validate(request, catalog_provider(name), allow_retired=self.settings.allow_retired)
        if offer.model != request.model:  # named by family or another provider's id: send this provider's id
            request = request.model_copy(update={"model": offer.model})
        return registry.get(name).with_options_checked(request, warn=True), name, offer

    def estimate(self, request: GenerateRequest, provider: str | None = None) -> Estimate:
        request, _, offer = self.resolve(request, provider)
        return self.catalog.estimate(request, offer)

    async def submit(
        self,
        request: GenerateRequest,
        *,
        provider: str | None = None,
        out_dir: Path | None = None,
        client_key: str | None = None,
        note: str = "",
        fresh: bool = False,
    ) -> Job:
        """Validate, price and record the job (no paid call yet); :meth:`wait` or a worker runs it.

        ``client_key`` makes enqueueing idempotent: the same key returns the job it first created. Unless
        ``fresh``, a request with a fixed seed identical to one that already succeeded (see
        :mod:`veokit.engine.reuse`) gets that video as a new job, succeeded at $0. A request over the
        per-job budget cap raises :class:`~veokit.store.budget.BudgetExceeded` and records nothing.
        """
        request, name, offer = self.resolve(request, provider)
        if client_key is not None:
            existing = await self.store.find_by_client_key(client_key)
            if existing is not None:
                return existing
        estimate = self.catalog.estimate(request, offer)
        if self.budget is not None:
            self.budget.check_job("the request", estimate.total_usd, name)
        target = out_dir or self.settings.out_dir
        source = None if fresh else await reuse.find_reusable(self.store, request)
        if source is not None:
            return await reuse.reuse(
                self.store,
                source,
                request,
                provider=name,
                out_dir=target,
                client_key=client_key,
                estimate_usd=estimate.total_usd,
            )
        return await self.engine.enqueue(request, name, target, client_key=client_key, note=note)

    async def wait(self, job_id: str, *, on_progress: ProgressFn | None = None) -> Job:
        """Run the job here, under a lease, until it ends or needs a decision. While another process (a
        worker) holds it, follow it in the store instead, and take it over if that process dies."""
        start = self.engine.clock.monotonic()
        while True:
            ran = await run_leased(
                self.engine, job_id, owner=self.owner, lease_s=self.settings.worker_lease_s, on_progress=on_progress
            )
            if ran is not None:
                return ran
            job = await self.store.get(job_id)
            if not job.state.active:
                return job
            if on_progress is not None:
                holder = f"run by {job.lease_owner}" if job.lease_owner else "waiting for its retry time"
                on_progress(Progress(job.id, job.state.value, self.engine.clock.monotonic() - start, None, 0, holder))
            await self.engine.clock.sleep(WATCH_INTERVAL_S)

    async def generate(
        self,
        request: GenerateRequest,
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
                await self.engine.load_request(previous),
                provider=previous.provider,
                out_dir=Path(previous.out_dir),
                note=f"retry {attempt + 1} of {tries} after {previous.id} was filtered",
            )
            job = await self.wait(job.id, on_progress=on_progress)
        return job

    # -- jobs -----------------------------------------------------------------------------------------------
    async def get_job(self, job_id: str) -> Job:
        return await self.store.get(job_id)

    async def list_jobs(self, *, states: Iterable[JobState] | None = None, limit: int = 50) -> list[Job]:
        return await self.store.list(states=states, limit=limit)

    async def events(self, job_id: str) -> list[JobEvent]:
        return await self.store.events(job_id)

    async def resume(self, job_id: str | None = None, *, on_progress: ProgressFn | None = None) -> list[Job]:
        """Finish unfinished jobs without ever submitting one a second time."""
        if job_id is not None:
            job = await self.store.get(job_id)
            if job.state is JobState.NEEDS_ATTENTION and job.operation_name:
                # Interrupted by a deadline while running: the operation exists, keep waiting on it.
                await self.store.transition(
                    job.id, expect=JobState.NEEDS_ATTENTION, to=JobState.RUNNING, message="resumed by the user"
                )
                return [await self.engine.run(job.id, on_progress, extend_deadline=True)]
            elif not job.state.active:
                raise E.JobStateError(f"job {job.id} is {job.state.value}; nothing to resume")
            jobs = [job]
        else:
            jobs = [j for j in await self.store.list(limit=10_000) if j.state.active]
        done = []
        for job in jobs:
            held = job.lease_expires_at is not None and job.lease_owner is not None and job.lease_expires_at > utcnow()
            if not registry.durable(job.provider) and job.state is not JobState.QUEUED and not held:
                done.append(
                    await self.store.transition(
                        job.id, expect=job.state, to=JobState.NEEDS_ATTENTION, message=operation_gone(job.provider)
                    )
                )
                continue
            if job_id is not None:
                done.append(await self.wait(job.id, on_progress=on_progress))
                continue
            # Every unfinished job: run those no live process holds; report the others as they are.
            ran = await run_leased(
                self.engine, job.id, owner=self.owner, lease_s=self.settings.worker_lease_s, on_progress=on_progress
            )
            done.append(ran if ran is not None else await self.store.get(job.id))
        return done

    async def retry(self, job_id: str) -> Job:
        """The user's decision for a job needing attention: submit it again (they accept paying twice)."""
        job = await self.store.get(job_id)
        if job.state is not JobState.NEEDS_ATTENTION:
            raise E.JobStateError(f"job {job.id} is {job.state.value}; only jobs needing attention can be retried")
        return await self.store.transition(
            job.id,
            expect=JobState.NEEDS_ATTENTION,
            to=JobState.QUEUED,
            operation_name=None,
            message="retry requested by the user",
        )

    async def reconcile(self, job_id: str, operation_name: str) -> Job:
        """The user's decision for a job needing attention whose submit did reach the provider (they found the
        operation in the console or logs): attach it and poll it, instead of paying again."""
        job = await self.store.get(job_id)
        if job.state is not JobState.NEEDS_ATTENTION:
            raise E.JobStateError(f"job {job.id} is {job.state.value}; only jobs needing attention can be reconciled")
        return await self.store.transition(
            job.id,
            expect=JobState.NEEDS_ATTENTION,
            to=JobState.RUNNING,
            operation_name=operation_name,
            error=None,
            submitted_at=job.submitted_at or utcnow(),
            message=f"reconciled by the user: operation {operation_name}",
        )

    async def abandon(self, job_id: str) -> Job:
        job = await self.store.get(job_id)
        if job.state.terminal:
            raise E.JobStateError(f"job {job.id} is already {job.state.value}")
        return await self.store.transition(
            job.id, expect=job.state, to=JobState.ABANDONED, message="abandoned by the user"
        )

    # -- costs ----------------------------------------------------------------------------------------------
    async def costs(self, *, days: int | None = None) -> SpendSummary:
        """The cost ledger by UTC day, provider and model (the last ``days`` days, or all)."""
        since = None
        if days is not None:
            since = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=max(days, 1) - 1)).isoformat()
        return await self.store.spend(since=since)


def raise_for_job(job: Job) -> Job:
    if job.state is JobState.SUCCEEDED:
        return job
    if job.error:
        raise E.from_dict(job.error)
    raise E.JobStateError(f"job {job.id} ended {job.state.value}")


class SyncVeoClient:
    """Blocking facade over :class:`VeoClient` for scripts and notebooks, on a private event loop."""

    def __init__(self, settings: Settings | None = None, **kw: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = VeoClient(settings, **kw)
        self._run(self._client.start())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def __enter__(self) -> SyncVeoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._client.aclose())
            self._loop.close()

    def estimate(self, request: GenerateRequest, provider: str | None = None) -> Estimate:
        return self._client.estimate(request, provider)

    def generate(self, request: GenerateRequest, **kw: Any) -> Job:
        return self._run(self._client.generate(request, **kw))

    def submit(self, request: GenerateRequest, **kw: Any) -> Job:
        return self._run(self._client.submit(request, **kw))

    def wait(self, job_id: str, **kw: Any) -> Job:
        return self._run(self._client.wait(job_id, **kw))

    def resume(self, job_id: str | None = None, **kw: Any) -> list[Job]:
        return self._run(self._client.resume(job_id, **kw))

    def get_job(self, job_id: str) -> Job:
        return self._run(self._client.get_job(job_id))

    def list_jobs(self, **kw: Any) -> list[Job]:
        return self._run(self._client.list_jobs(**kw))
