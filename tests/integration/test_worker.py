"""Workers against a real emulator: claiming, leases and their loss, graceful stop, back-off, budgets.

Lease expiry is driven by an injected wall clock (``wall=``): a worker whose clock runs ahead sees every
other lease as expired, which is exactly what a real worker sees once a stalled one stops renewing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit import errors as E
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.engine.worker import Worker, run_leased
from veokit.media.probe import Expectation, verify_mp4
from veokit.models.job import Job, JobState, utcnow
from veokit.models.request import GenerateRequest
from veokit.service import VeoClient, WorkerConfig
from veokit.store.budget import BudgetExceeded

from .conftest import BEFORE_GEMINI_SHUTDOWN, settings_for, stats

S = JobState


def request(i: int = 0, **kw: Any) -> GenerateRequest:
    return GenerateRequest(prompt=f"worker test scene {i % 2}", duration_seconds=4, **kw)


def config(**kw: Any) -> WorkerConfig:
    base: dict[str, Any] = {"concurrency": 50, "lease_s": 3.0, "idle_s": 0.05, "drain": True, "stop_grace_s": 5.0}
    return WorkerConfig(**(base | kw))


def shifted(seconds: float) -> Callable[[], dt.datetime]:
    return lambda: utcnow() + dt.timedelta(seconds=seconds)


async def eventually(check: Callable[[], Any], timeout_s: float = 30.0) -> None:
    """Wait for a condition outside our control (the emulator's counters, another task's progress)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def clients(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Opens VeoClients on one SQLite store (separate engines, as separate processes would have)."""
    opened: list[VeoClient] = []

    async def open_client(**overrides: Any) -> VeoClient:
        c = VeoClient(settings_for(emu, tmp_path, **overrides))
        await c.start()
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.aclose()


async def enqueue(client: VeoClient, n: int, **kw: Any) -> list[Job]:
    return [await client.submit(request(i), **kw) for i in range(n)]


async def test_a_worker_runs_queued_jobs_once_each(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    client = await clients()
    jobs = await enqueue(client, 6)
    worker = client.worker(config())
    result = await asyncio.wait_for(worker.run(), 60)
    assert result.finished == {"succeeded": 6} and result.claimed == 6
    assert stats(emu)["submits_total"] == 6
    for job in await client.get_many([j.id for j in jobs]):
        assert job.state is S.SUCCEEDED and job.lease_owner == worker.owner
        verify_mp4(Path(job.results[0].path), Expectation(width=1280, height=720, duration_s=4.0))
    assert [e.to_state for e in await client.events(jobs[0].id)] == [
        S.QUEUED,
        S.SUBMITTING,
        S.RUNNING,
        S.DOWNLOADING,
        S.SUCCEEDED,
    ]


async def test_two_workers_share_the_queue_without_overlap(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    a, b = await clients(), await clients()
    jobs = await enqueue(a, 12)
    wa, wb = a.worker(config(concurrency=4)), b.worker(config(concurrency=4))
    ra, rb = await asyncio.wait_for(asyncio.gather(wa.run(), wb.run()), 90)
    assert ra.claimed + rb.claimed == 12 and ra.claimed and rb.claimed
    assert ra.peak_in_flight <= 4 and rb.peak_in_flight <= 4
    assert stats(emu)["submits_total"] == 12
    assert {j.state for j in await a.get_many([j.id for j in jobs])} == {S.SUCCEEDED}


async def test_a_stalled_workers_late_writes_change_nothing(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    """Worker A claims, then stalls past its lease; B takes over and finishes. A's write raises LeaseLost."""
    a, b = await clients(), await clients()
    [job] = await enqueue(a, 1)
    [held] = await a._store.claim("stalled-a", lease_s=3.0)
    late_b = Worker(b._engine, config(), wall=shifted(3.0))  # B's clock: A's lease has expired
    result = await asyncio.wait_for(late_b.run(), 60)
    assert result.finished == {"succeeded": 1}
    done = await a.get_job(job.id)
    with pytest.raises(E.LeaseLost):  # what A's engine would write next, had it been polling
        await a._engine.store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, fence=held.lease_token)
    with pytest.raises(E.LeaseLost):
        await a._store.release(job.id, fence=held.lease_token)
    assert await a.get_job(job.id) == done
    assert "lease of stalled-a expired; claimed by" in (await a.events(job.id))[1].message
    assert stats(emu)["submits_total"] == 1


async def test_a_job_found_mid_submit_is_never_resubmitted(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    """Its worker died during the paid call: the next claim sets it aside for the user, paying nothing."""
    client = await clients()
    [job] = await enqueue(client, 1)
    [held] = await client._store.claim("died-mid-submit", lease_s=3.0)
    await client._store.begin_submit(job.id, fence=held.lease_token, attempts=1)
    result = await asyncio.wait_for(Worker(client._engine, config(), wall=shifted(3.0)).run(), 30)
    assert result.finished == {"needs_attention": 1}
    after = await client.get_job(job.id)
    assert after.state is S.NEEDS_ATTENTION and "jobs retry" in (after.error or {})["message"]
    assert after.lease_owner is None  # released: the user's retry makes it claimable at once
    assert stats(emu)["submits_total"] == 0
    [row] = (await client.costs()).rows
    assert row.unknown_usd == job.estimate_usd  # may have been billed: counted against the budget


async def test_stop_releases_leases_and_another_worker_finishes_without_resubmitting(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    emu.state.set_latency(3.0, None)
    a, b = await clients(), await clients()
    jobs = await enqueue(a, 5)
    first = a.worker(config(drain=False))
    running = asyncio.create_task(first.run())
    await eventually(lambda: stats(emu)["polls"] >= 5)  # every job submitted and polling
    first.stop()
    result = await asyncio.wait_for(running, 10)
    assert result.released == 5 and not result.finished
    held = await a.get_many([j.id for j in jobs])
    assert {j.state for j in held} == {S.RUNNING} and {j.lease_owner for j in held} == {None}
    events = await a.events(jobs[0].id)
    assert events[-1].message == f"worker {first.owner} stopped"
    second = await asyncio.wait_for(b.worker(config()).run(), 60)  # no waiting for lease expiry
    assert second.finished == {"succeeded": 5}
    assert stats(emu)["submits_total"] == 5


async def test_stop_lets_a_submit_in_progress_store_its_operation(tmp_path: Path) -> None:
    """A graceful stop during a slow paid submit waits for the operation name instead of abandoning it."""
    with EmulatorServer(EmulatorConfig(latency_s=5.0, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        httpx.post(
            f"{emu.base_url}/_emulator/faults", json=[{"route": "submit", "fault": {"kind": "delay", "seconds": 1.0}}]
        ).raise_for_status()
        async with VeoClient(settings_for(emu, tmp_path)) as client:
            [job] = await enqueue(client, 1)
            worker = client.worker(config(drain=False))
            running = asyncio.create_task(worker.run())
            await eventually(lambda: stats(emu)["faults_fired"] >= 1)
            worker.stop()  # the submit is in flight now
            await asyncio.wait_for(running, 10)
            after = await client.get_job(job.id)
        assert after.state is S.RUNNING and after.operation_name and after.lease_owner is None
        assert stats(emu)["submits_total"] == 1


async def test_a_budget_cap_holds_jobs_back_and_records_why_once(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients(budget_daily_usd=0.5)  # each 4 s fast job costs $0.40: one fits
    jobs = await enqueue(client, 3)
    worker = client.worker(config(drain=False, budget_retry_s=0.2))
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(2.5)  # several budget retries
    worker.stop()
    await asyncio.wait_for(running, 10)
    after = await client.get_many([j.id for j in jobs])
    assert sorted(j.state.value for j in after) == ["queued", "queued", "succeeded"]
    blocked = [j for j in after if j.state is S.QUEUED]
    for job in blocked:
        assert (job.error or {})["type"] == "BudgetExceeded" and (job.error or {})["cap"] == "daily"
        budget_events = [e for e in await client.events(job.id) if "daily cap" in e.message]
        assert len(budget_events) == 1  # re-checks do not flood the history
    assert stats(emu)["submits_total"] == 1


async def test_an_error_leaving_the_job_active_releases_it_with_a_back_off(clients: Callable[..., Any]) -> None:
    client = await clients()
    [job] = await enqueue(client, 1)

    class FailingEngine:
        store = client._engine.store

        async def run(self, job_id: str, on_progress: Any = None, *, fence: int | None = None) -> Job:
            raise E.NetworkError("vertex: connection refused (nothing was sent)")

    worker = Worker(FailingEngine(), config(drain=False, backoff_base_s=30))  # type: ignore[arg-type]
    running = asyncio.create_task(worker.run())
    await eventually(lambda: worker.stats.released >= 1)
    worker.stop()
    await asyncio.wait_for(running, 10)
    after = await client.get_job(job.id)
    assert after.state is S.QUEUED and after.lease_owner is None
    assert after.lease_expires_at is not None and after.lease_expires_at > utcnow() + dt.timedelta(seconds=20)
    assert "connection refused" in (await client.events(job.id))[-1].message
    assert await client._store.claim("another", lease_s=5) == []  # backing off


async def test_wait_follows_a_job_another_process_holds(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    a, b = await clients(), await clients()
    [job] = await enqueue(a, 1)
    seen: list[str] = []
    worker_run = asyncio.create_task(run_leased(a._engine, job.id, owner="the-worker", lease_s=5.0))

    async def claimed() -> bool:
        return (await a.get_job(job.id)).lease_owner == "the-worker"

    await eventually(claimed)
    followed = await asyncio.wait_for(b.wait(job.id, on_progress=lambda p: seen.append(p.message)), 60)
    done = await worker_run
    assert done is not None and done.state is followed.state is S.SUCCEEDED
    assert "run by the-worker" in seen
    assert stats(emu)["submits_total"] == 1


async def test_generate_then_budget_refusal_is_typed(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    client = await clients(budget_per_job_usd=0.1)
    with pytest.raises(BudgetExceeded, match="per-job cap"):
        await client.generate(request())
    assert await client.list_jobs() == [] and stats(emu)["submits_total"] == 0


async def test_drain_does_not_wait_for_jobs_held_back_by_the_budget(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients(budget_daily_usd=0.5)
    await enqueue(client, 3)
    result = await asyncio.wait_for(client.worker(config(budget_retry_s=30)).run(), 30)
    assert result.finished == {"succeeded": 1} and stats(emu)["submits_total"] == 1
