"""Budget caps under concurrent workers: submits stop at the cap, never over it, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veokit.emulator import EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service import VeoClient, Worker, WorkerConfig
from veokit.store import SqlJobStore
from veokit.store.schema import budget_ledger, job_events, jobs

from .conftest import eventually, settings_for, stats

S = JobState
PG_URL = os.environ.get("VEOKIT_TEST_PG_URL")
JOB_USD = 0.40  # veo-3.1-fast, 4 s, 720p, with audio


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def clients(
    request: pytest.FixtureRequest, emu: EmulatorServer, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip("set VEOKIT_TEST_PG_URL to a disposable PostgreSQL database to run these")
        url = PG_URL
    opened: list[VeoClient] = []

    async def open_client(**overrides: Any) -> VeoClient:
        c = VeoClient(settings_for(emu, tmp_path, database_url=url, **overrides))
        await c.start()
        if not opened and isinstance(c._store, SqlJobStore):
            async with c._store.engine.begin() as conn:  # a disposable database: start empty
                for table in (budget_ledger, job_events, jobs):
                    await conn.execute(sa.delete(table))
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.aclose()


def worker_config(concurrency: int = 10) -> WorkerConfig:
    # Leases are not under test here: long enough that a loaded machine's late heartbeats cannot lose one.
    return WorkerConfig(concurrency=concurrency, lease_s=30.0, idle_s=0.05, budget_retry_s=0.1)


async def run_until_settled(workers: list[Worker], client: VeoClient, ids: list[str]) -> None:
    """Run the workers until no job is in flight and only budget-blocked ones remain queued."""
    tasks = [asyncio.create_task(w.run()) for w in workers]

    async def settled() -> bool:
        current = await client.get_many(ids)
        blocked = [j for j in current if j.state is S.QUEUED and (j.error or {}).get("type") == "BudgetExceeded"]
        return all(j.state.terminal for j in current if j not in blocked)

    try:
        await eventually(settled, timeout_s=600)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)


async def test_a_daily_cap_below_the_batch_stops_concurrent_workers_at_the_cap(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    cap = 3.0  # 7 jobs ($2.80) fit; the 8th would make $3.20
    a, b, c = [await clients(budget_daily_usd=cap) for _ in range(3)]
    made = [await a.submit(GenerateRequest(prompt=f"budget scene {i % 2}", duration_seconds=4)) for i in range(20)]
    assert {j.estimate_usd for j in made} == {JOB_USD}
    ids = [j.id for j in made]
    await run_until_settled([x.worker(worker_config()) for x in (a, b, c)], a, ids)
    final = await a.get_many(ids)
    assert sum(j.state is S.SUCCEEDED for j in final) == 7
    assert stats(emu)["submits_total"] == 7
    blocked = [j for j in final if j.state is S.QUEUED]
    assert len(blocked) == 13 and all((j.error or {}).get("type") == "BudgetExceeded" for j in blocked)
    summary = await a.costs()
    assert sum(r.committed_usd for r in summary.rows) == pytest.approx(2.8)
    assert summary.queued_jobs == 13


async def test_filtered_and_failed_jobs_give_their_reservation_back(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients(budget_daily_usd=0.8)  # two reservations at a time
    prompts = ["x [emulate:filtered]", "y [emulate:failed]", "ok scene 0", "ok scene 1", "ok scene 0"]
    made = [await client.submit(GenerateRequest(prompt=p, duration_seconds=4)) for p in prompts]
    ids = [j.id for j in made]
    # One at a time, oldest first: the filtered and failed jobs reserve, end, and hand their budget on.
    await run_until_settled([client.worker(worker_config(concurrency=1))], client, ids)
    final = {j.request["prompt"]: j.state for j in await client.get_many(ids)}
    assert final["x [emulate:filtered]"] is S.FILTERED and final["y [emulate:failed]"] is S.FAILED
    states = [j.state for j in await client.get_many(ids[2:])]
    assert states.count(S.SUCCEEDED) == 2 and states.count(S.QUEUED) == 1
    assert stats(emu)["submits_total"] == 4
    assert sum(r.spent_usd for r in (await client.costs()).rows) == pytest.approx(0.8)


def test_budget_settings_become_caps_and_mistakes_name_the_variable() -> None:
    from veokit.config import load_settings
    from veokit.engine.budget import caps_from_settings
    from veokit.errors import ConfigError

    assert caps_from_settings(load_settings()) is None
    caps = caps_from_settings(
        load_settings(budget_daily_usd=50, budget_per_job_usd=3.2, budget_provider_usd="vertex=20, gemini=5")
    )
    assert caps is not None and caps.needs_ledger
    assert (caps.daily_usd, caps.per_job_usd, dict(caps.provider_daily_usd)) == (50, 3.2, {"vertex": 20, "gemini": 5})
    for bad, var in (
        ({"budget_provider_usd": "vertex:20"}, "VEOKIT_BUDGET_PROVIDER_USD"),
        ({"budget_provider_usd": "mars=1"}, "VEOKIT_BUDGET_PROVIDER_USD"),
        ({"budget_daily_usd": -1}, "VEOKIT_BUDGET_DAILY_USD"),
        ({"worker_lease_s": 0.5}, "VEOKIT_WORKER_LEASE_S"),
    ):
        with pytest.raises(ConfigError, match=var):
            load_settings(**bad)
