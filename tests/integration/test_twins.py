"""Identical seeded requests in flight together pay once (store/twins.py, engine/twins.py), against the emulator.

The emulator's operation hold keeps the paying twin running for as long as a test needs (however loaded the
machine), so "the second waits" is observed, not guessed from timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit.emulator import EmulatorServer
from veokit.models.job import Job, JobState
from veokit.models.request import GenerateRequest
from veokit.service import VeoClient, WorkerConfig

from .conftest import eventually, settings_for, stats

S = JobState


def seeded(prompt: str = "twin lighthouse at dusk", **kw: Any) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, duration_seconds=4, seed=42, **kw)


def config() -> WorkerConfig:
    return WorkerConfig(concurrency=10, lease_s=30.0, idle_s=0.05, drain=True, stop_grace_s=5.0)


@pytest.fixture
async def clients(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """VeoClients on one SQLite store, as separate processes would have."""
    opened: list[VeoClient] = []

    async def open_client() -> VeoClient:
        c = VeoClient(settings_for(emu, tmp_path))
        await c.start()
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.aclose()


def hold(emu: EmulatorServer, prompt: str) -> str:
    found = httpx.post(f"{emu.base_url}/_emulator/holds", json={"prompt": prompt}).json()
    return str(found["id"])


def release(emu: EmulatorServer, hold_id: str) -> None:
    httpx.delete(f"{emu.base_url}/_emulator/holds/{hold_id}").raise_for_status()


async def test_two_identical_seeded_jobs_and_a_worker_pay_once(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients()
    first = await client.submit(seeded())
    second = await client.submit(seeded())
    assert (first.state, second.state) == (S.QUEUED, S.QUEUED)  # neither delivered yet: both recorded
    result = await asyncio.wait_for(client.worker(config()).run(), 60)
    assert result.finished == {"succeeded": 2}
    assert stats(emu)["submits_total"] == 1
    a, b = await client.get_many([first.id, second.id])
    assert (a.state, b.state) == (S.SUCCEEDED, S.SUCCEEDED)
    # The same video (one out dir: the same file; another: a hard link or copy of it).
    assert a.results[0].sha256 == b.results[0].sha256 and Path(b.results[0].path).is_file()
    assert (b.cost_usd, b.twin_of, b.submitted_at, b.attempts) == (0.0, first.id, None, 0)
    assert a.cost_usd and a.cost_usd > 0
    assert await client.reused_from(b) == first.id
    assert any(f"waiting for its twin {first.id}" in e.message for e in await client.events(second.id))
    spend = await client.costs()
    assert sum(r.committed_usd for r in spend.rows) == pytest.approx(a.cost_usd)


async def test_a_waiting_twin_ends_filtered_like_its_twin_naming_it(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients()
    request = seeded("twin filtered [emulate:filtered]")
    first, second = await client.submit(request), await client.submit(request)
    result = await asyncio.wait_for(client.worker(config()).run(), 60)
    assert result.finished == {"filtered": 2} and stats(emu)["submits_total"] == 1
    b = await client.get_job(second.id)
    assert (b.state, b.cost_usd, b.twin_of) == (S.FILTERED, 0.0, first.id)
    assert b.error is not None and first.id in b.error["message"] and b.error["type"] == "ContentFiltered"


async def test_fresh_pays_for_its_own(clients: Callable[..., Any], emu: EmulatorServer) -> None:
    client = await clients()
    await client.submit(seeded())
    fresh = await client.submit(seeded(), fresh=True)
    assert fresh.fresh
    result = await asyncio.wait_for(client.worker(config()).run(), 60)
    assert result.finished == {"succeeded": 2} and stats(emu)["submits_total"] == 2


async def test_a_waiting_twin_survives_its_worker_and_is_finished_by_another(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """The worker running both twins stops while the paying one is held running: the waiting one is left queued
    (its twin recorded), and a new worker in another client finishes both, still with one submit."""
    held = hold(emu, "twin survivor")
    one = await clients()
    first, second = await one.submit(seeded("twin survivor")), await one.submit(seeded("twin survivor"))
    worker = one.worker(WorkerConfig(concurrency=10, lease_s=30.0, idle_s=0.05, stop_grace_s=5.0))
    running = asyncio.create_task(worker.run())

    async def waiting() -> bool:
        return (await one.get_job(second.id)).twin_of == first.id and stats(emu)["polls"] >= 1

    await eventually(waiting)
    worker.stop()
    await asyncio.wait_for(running, 30)
    a, b = await one.get_many([first.id, second.id])
    assert (a.state, b.state, b.twin_of, b.lease_owner) == (S.RUNNING, S.QUEUED, first.id, None)
    release(emu, held)
    two = await clients()
    result = await asyncio.wait_for(two.worker(config()).run(), 60)
    assert result.finished == {"succeeded": 2} and stats(emu)["submits_total"] == 1
    b = await two.get_job(second.id)
    assert (b.state, b.cost_usd, await two.reused_from(b)) == (S.SUCCEEDED, 0.0, first.id)


async def test_generate_waits_for_a_twin_another_process_is_paying_for(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    """Two `veokit generate`s (VeoClient.wait, each running its own job) of one seeded request: the second
    follows the first's twin and answers with its video, without a second submit, saying so as it waits."""
    held = hold(emu, "twin generate")
    one, two = await clients(), await clients()
    first = await one.submit(seeded("twin generate"))
    paying = asyncio.create_task(one.wait(first.id))
    await eventually(lambda: stats(emu)["submits_total"] == 1)
    second = await two.submit(seeded("twin generate"))
    seen: list[str] = []
    waited = asyncio.create_task(two.wait(second.id, on_progress=lambda p: seen.append(p.message)))
    await eventually(lambda: any(f"waiting for its twin {first.id}" in m for m in seen))
    release(emu, held)
    done: Job = await asyncio.wait_for(waited, 60)
    assert (await asyncio.wait_for(paying, 60)).state is S.SUCCEEDED
    assert (done.state, done.cost_usd, done.twin_of) == (S.SUCCEEDED, 0.0, first.id)
    assert stats(emu)["submits_total"] == 1
