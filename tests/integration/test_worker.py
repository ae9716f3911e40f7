"""Workers against a real emulator: claiming, leases and their loss, graceful stop, back-off, budgets.

Lease expiry is driven by an injected wall clock (``wall=``): a worker whose clock runs ahead sees every
other lease as expired, which is exactly what a real worker sees once a stalled one stops renewing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from veokit import errors as E
from veokit.emulator import EmulatorServer
from veokit.engine import gc_policy
from veokit.engine.worker import Worker, run_leased
from veokit.media.probe import Expectation, verify_mp4
from veokit.models.job import Job, JobState, utcnow
from veokit.models.request import GenerateRequest
from veokit.resilience.clock import Clock, ManualClock
from veokit.resilience.retry import backoff
from veokit.service import VeoClient, WorkerConfig
from veokit.store.budget import BudgetExceeded
from veokit.store.fenced import lease_fence

from .conftest import eventually, settings_for, stats

S = JobState


def request(i: int = 0, **kw: Any) -> GenerateRequest:
    return GenerateRequest(prompt=f"worker test scene {i % 2}", duration_seconds=4, **kw)


def config(**kw: Any) -> WorkerConfig:
    # The workers' own leases are long (a loaded machine's late heartbeats must not lose them); the lease tests
    # claim with short leases of their own and look from a wall clock that runs ahead (`shifted`).
    base: dict[str, Any] = {"concurrency": 50, "lease_s": 30.0, "idle_s": 0.05, "drain": True, "stop_grace_s": 5.0}
    return WorkerConfig(**(base | kw))


def shifted(seconds: float) -> Callable[[], dt.datetime]:
    return lambda: utcnow() + dt.timedelta(seconds=seconds)


@pytest.fixture
async def clients(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Opens VeoClients on one SQLite store (separate engines, as separate processes would have)."""
    opened: list[VeoClient] = []

    async def open_client(clock: Clock | None = None, **overrides: Any) -> VeoClient:
        c = VeoClient(settings_for(emu, tmp_path, **overrides), clock=clock)
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


async def test_a_worker_tunes_the_collector_unless_told_not_to(
    clients: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc_policy, "_frozen", True)  # the freeze itself: tests/unit/test_gc_policy.py
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        client = await clients()
        await asyncio.wait_for(client.worker(config(tune_gc=False)).run(), 30)  # nothing queued: drains at once
        assert gc.get_threshold() == (700, 10, 10)
        await asyncio.wait_for(client.worker(config()).run(), 30)
        assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, 10, 10)
    finally:
        gc.set_threshold(*before)


async def test_a_worker_builds_its_provider_before_its_first_claim(clients: Callable[..., Any]) -> None:
    """Building a provider (its modules, a TLS context) takes a second or more on a loaded machine: done at the
    first submit, it would sit between the first claim and the first send, delaying every worker's schedule. A
    provider that cannot be built (no credentials) does not stop the worker: the job that needs it says why."""
    veo = await clients()
    assert not veo._providers
    veo.worker(config())
    assert list(veo._providers) == ["vertex"]
    unconfigured = await clients(provider="gemini", gemini_api_key=None)
    unconfigured.worker(config())
    assert not unconfigured._providers


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


def dead_owner() -> str:
    """A lease owner naming a process of this machine that has exited (as a SIGKILLed worker's does)."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return f"{socket.gethostname()}:{gone.pid}:worker-dead"


async def test_a_job_found_mid_submit_is_set_aside_when_the_provider_cannot_tell(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """Its worker died during the paid call and the provider lists nothing we can ask: the next claim sets it
    aside for the user, paying nothing."""
    client = await clients(provider="gemini", gemini_api_key="test-key")
    [job] = await enqueue(client, 1)
    [held] = await client._store.claim(dead_owner(), lease_s=3.0)
    await client._store.begin_submit(job.id, fence=held.lease_token, attempts=1)
    result = await asyncio.wait_for(Worker(client._engine, config(), wall=shifted(3.0)).run(), 30)
    assert result.finished == {"needs_attention": 1}
    after = await client.get_job(job.id)
    assert after.state is S.NEEDS_ATTENTION and "jobs retry" in (after.error or {})["message"]
    assert after.lease_owner is None  # released: the user's retry makes it claimable at once
    assert stats(emu)["submits_total"] == 0
    [row] = (await client.costs()).rows
    assert row.unknown_usd == job.estimate_usd  # may have been billed: counted against the budget


async def test_a_job_found_mid_submit_is_submitted_again_only_when_the_provider_lists_none(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """Its worker died before the request arrived; the provider's listing (the emulator's) says it never did:
    the job is queued again and paid for once."""
    client = await clients()
    [job] = await enqueue(client, 1)
    [held] = await client._store.claim(dead_owner(), lease_s=3.0)
    await client._store.begin_submit(job.id, fence=held.lease_token, attempts=1)
    result = await asyncio.wait_for(Worker(client._engine, config(), wall=shifted(10.0)).run(), 60)
    assert result.finished == {"succeeded": 1}
    assert stats(emu)["submits_total"] == 1
    messages = [e.message for e in await client.events(job.id)]
    assert any("lists no operation for this request" in m for m in messages), messages


async def test_a_job_found_mid_submit_continues_the_operation_its_provider_lists(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """Its worker died after the provider accepted but before anything was recorded: the listing names the
    operation, and the job continues it. One submit."""
    client = await clients()
    [job] = await enqueue(client, 1)
    [held] = await client._store.claim(dead_owner(), lease_s=3.0)
    await client._store.begin_submit(job.id, fence=held.lease_token, attempts=1)
    name = await client._engine.provider_for("vertex").submit(await client._engine._wire_request(job))
    result = await asyncio.wait_for(Worker(client._engine, config(), wall=shifted(10.0)).run(), 60)
    assert result.finished == {"succeeded": 1}
    assert (await client.get_job(job.id)).operation_name == name
    assert stats(emu)["submits_total"] == 1


async def test_an_operation_accepted_after_the_lease_was_lost_is_continued_by_the_next_holder(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """Worker A (alive, but its heartbeats were late) lost its lease while its submit was in flight. B claims
    the job meanwhile and waits instead of deciding; A records the operation the provider accepted (its fenced
    write to the job fails); the next claim continues that operation. Nobody needs to decide anything."""
    client = await clients()
    [job] = await enqueue(client, 1)
    alive = f"{socket.gethostname()}:{os.getpid()}:worker-a"  # this process: certainly alive
    [held] = await client._store.claim(alive, lease_s=3.0)
    await client._store.begin_submit(job.id, fence=held.lease_token, attempts=1)
    name = await client._engine.provider_for("vertex").submit(await client._engine._wire_request(job))

    b = Worker(client._engine, config(drain=False), wall=shifted(4.0))
    b_run = asyncio.create_task(b.run())
    await eventually(lambda: b.stats.claimed >= 1 and b.in_flight == 0)
    waiting = await client.get_job(job.id)
    assert waiting.state is S.SUBMITTING and waiting.lease_owner is None  # released with a delay: not decided
    assert "may still be waiting for the answer" in (await client.events(job.id))[-1].message
    b.stop()
    await b_run

    from veokit.engine.submits import record  # what A's engine does with the answer

    with pytest.raises(E.LeaseLost), lease_fence(held.lease_token):
        await record(client._engine.store, job, 1, name, f"operation {name}")
    result = await asyncio.wait_for(Worker(client._engine, config(), wall=shifted(30.0)).run(), 60)
    assert result.finished == {"succeeded": 1}
    done = await client.get_job(job.id)
    assert done.operation_name == name and "continuing" in " ".join(e.message for e in await client.events(job.id))
    assert stats(emu)["submits_total"] == 1


async def test_stop_releases_leases_and_another_worker_finishes_without_resubmitting(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """Jobs past their submit are interrupted at once: stopping never waits on time (on a clock that does not
    move by itself, a stop that waited for anything would never end)."""
    clock = ManualClock()
    a, b = await clients(clock=clock), await clients()
    jobs = await enqueue(a, 5)
    events: list[str] = []
    first = a.worker(config(drain=False, lease_s=60), on_event=events.append)
    running = asyncio.create_task(first.run())

    async def all_submitted_and_waiting_to_poll() -> bool:
        ops = {j.operation_name for j in await a.get_many([j.id for j in jobs]) if j.state is S.RUNNING}
        return len(ops) == 5 and clock.waiting >= 5  # each job's first poll wait is pending on the clock

    await eventually(all_submitted_and_waiting_to_poll)
    first.stop()
    result = await asyncio.wait_for(running, 30)
    assert result.released == 5 and not result.finished
    assert clock.monotonic() == 0  # no time passed: nothing was waited for
    held = await a.get_many([j.id for j in jobs])
    assert {j.state for j in held} == {S.RUNNING} and {j.lease_owner for j in held} == {None}
    assert (await a.events(jobs[0].id))[-1].message == f"worker {first.owner} stopped"
    assert "stopping: 5 job(s) in flight; releasing their leases" in events
    second = await asyncio.wait_for(b.worker(config()).run(), 60)  # no waiting for lease expiry
    assert second.finished == {"succeeded": 5}, [e.message for e in await b.events(jobs[0].id)]
    assert stats(emu)["submits_total"] == 5


async def test_stop_lets_a_submit_in_progress_store_its_operation(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """A graceful stop during a paid submit waits for the operation name instead of abandoning it: the submit is
    held in flight at the emulator, and the worker's grace period is on a clock that only the test moves."""
    clock = ManualClock()
    client = await clients(clock=clock)
    [job] = await enqueue(client, 1)
    submit_hold = emu.state.holds.add("submit")
    events: list[str] = []
    worker = client.worker(config(drain=False, lease_s=60), on_event=events.append)
    running = asyncio.create_task(worker.run())
    await eventually(lambda: submit_hold.waiting == 1)  # the paid call is in flight
    worker.stop()
    await eventually(lambda: "stopping: 1 job(s) in flight; releasing their leases" in events)
    assert (await client.get_job(job.id)).state is S.SUBMITTING and not running.done()  # waiting for it
    emu.state.holds.release(submit_hold.id)
    await asyncio.wait_for(running, 30)
    after = await client.get_job(job.id)
    assert after.state is S.RUNNING and after.operation_name and after.lease_owner is None
    assert stats(emu)["submits_total"] == 1 and clock.monotonic() == 0


async def test_stop_gives_up_on_a_submit_that_outlasts_the_grace_period(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    clock = ManualClock()
    client = await clients(clock=clock)
    [job] = await enqueue(client, 1)
    submit_hold = emu.state.holds.add("submit")
    events: list[str] = []
    worker = client.worker(config(drain=False, lease_s=60, stop_grace_s=15), on_event=events.append)
    running = asyncio.create_task(worker.run())
    await eventually(lambda: submit_hold.waiting == 1)
    worker.stop()
    await eventually(lambda: any(line.startswith("stopping") for line in events))
    clock.advance(14.9)
    await asyncio.sleep(0)
    assert not running.done()
    clock.advance(0.1)  # the grace period is over
    await asyncio.wait_for(running, 30)
    assert f"{job.id}: still submitting after 15 s; interrupted (it will need your decision)" in events
    after = await client.get_job(job.id)
    assert after.state is S.SUBMITTING and after.lease_owner is None  # the next claim sets it aside for the user
    assert stats(emu)["submits_total"] == 0


async def test_a_budget_cap_holds_jobs_back_and_records_why_once(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients(budget_daily_usd=0.5)  # each 4 s fast job costs $0.40: one fits
    jobs = await enqueue(client, 3)
    worker = client.worker(config(drain=False, budget_retry_s=0.2))
    running = asyncio.create_task(worker.run())
    # One job done and the other two re-checked against the cap several times each.
    await eventually(lambda: worker.stats.finished["succeeded"] == 1 and worker.stats.released >= 8)
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
        clock = client._engine.clock
        rng = random.Random(2)

        async def run(self, job_id: str, on_progress: Any = None, **kw: Any) -> Job:
            raise E.NetworkError("vertex: connection refused (nothing was sent)")

    worker = Worker(FailingEngine(), config(drain=False, backoff_base_s=30))  # type: ignore[arg-type]
    running = asyncio.create_task(worker.run())
    await eventually(lambda: worker.stats.released >= 1)
    worker.stop()
    await asyncio.wait_for(running, 10)
    after = await client.get_job(job.id)
    assert after.state is S.QUEUED and after.lease_owner is None
    # The delay is the policy's (full jitter up to backoff_base_s on a first failure), and the lease says so.
    said = (await client.events(job.id))[-1].message
    assert "connection refused" in said
    delay = float(re.findall(r"released for a retry in ([0-9.]+) s", said)[0])
    expected = backoff(1, base_s=30, cap_s=WorkerConfig().backoff_max_s, rng=random.Random(2))
    assert delay == pytest.approx(expected, abs=0.5) and delay > 20  # seeded: this draw is ~29 s
    assert after.lease_expires_at is not None and after.lease_expires_at > utcnow()
    assert await client._store.claim("another", lease_s=5) == []  # backing off


async def test_wait_follows_a_job_another_process_holds(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    a, b = await clients(), await clients()
    [job] = await enqueue(a, 1)
    seen: list[str] = []
    op_hold = emu.state.holds.add()  # the job runs until the test has seen it followed
    worker_run = asyncio.create_task(run_leased(a._engine, job.id, owner="the-worker", lease_s=30.0))

    async def claimed() -> bool:
        return (await a.get_job(job.id)).lease_owner == "the-worker"

    await eventually(claimed)
    following = asyncio.create_task(b.wait(job.id, on_progress=lambda p: seen.append(p.message)))
    await eventually(lambda: "run by the-worker" in seen)
    emu.state.holds.release(op_hold.id)
    followed = await asyncio.wait_for(following, 60)
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


async def test_jobs_between_claim_and_first_poll_are_bounded_and_polling_ones_counted(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """``max_starting`` bounds the jobs being submitted; once their operations are recorded they count as
    ``polling`` (kept as a counter: the claim loop must not scan thousands of jobs in flight each time one
    starts) and free a starting slot. Time stands still (ManualClock), so no job polls or finishes."""
    client = await clients(clock=ManualClock())
    jobs = await enqueue(client, 7)
    submit_hold = emu.state.holds.add("submit")
    worker = client.worker(config(drain=False, concurrency=5, max_starting=2))
    running = asyncio.create_task(worker.run())
    await eventually(lambda: submit_hold.waiting == 2)
    assert worker.in_flight == 2 and worker.polling == 0  # no third claim while two are starting
    emu.state.holds.release(submit_hold.id)
    await eventually(lambda: worker.polling == 5)
    assert worker.in_flight == 5 and worker.stats.claimed == 5 and stats(emu)["submits_total"] == 5
    worker.stop()
    await asyncio.wait_for(running, 30)
    assert worker.in_flight == 0 and worker.polling == 0
    states = [j.state for j in await client.get_many([j.id for j in jobs])]
    assert sorted(s.value for s in states) == ["queued"] * 2 + ["running"] * 5
