"""Two workers on one store pace one provider quota between them (issue 11, target 5): ``VEOKIT_RATE_LIMIT`` is
the rate of all workers together, so the emulator's quota is never exceeded (0 x 429).

Time is the test's: both workers share a ManualClock (their slots are reckoned on it, see veokit.engine.pacing)
and the emulator's clock is frozen and moved in lockstep, emulator first, so a submit sent at a slot reaches the
emulator at that slot's time; each step waits for its slot's submit to arrive before moving on. Each worker pacing
alone (2 a minute each) would send 4 submits in the first 30 s (429s at a quota of 3 a minute).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.resilience.clock import ManualClock
from veokit.resilience.gate import PACING_MARGIN
from veokit.service import VeoClient, WorkerConfig

from .conftest import BEFORE_GEMINI_SHUTDOWN, eventually, settings_for

S = JobState
GAP_S = 30.0 * (1 + PACING_MARGIN)  # "2/min"
STEP_S = GAP_S + 1e-6
JOBS = 6


async def test_two_workers_sharing_a_store_never_exceed_the_quota_between_them(tmp_path: Path) -> None:
    config = EmulatorConfig(latency_s=1.0, quota_requests=3, quota_window_s=60.0, as_of=BEFORE_GEMINI_SHUTDOWN)
    with EmulatorServer(config, port=0) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url) as admin:
            (await admin.post("/_emulator/clock", json={"freeze": True})).raise_for_status()

            async def arrived() -> int:
                stats = (await admin.get("/_emulator/stats")).json()
                return int(stats["submits_total"]) + int(stats["rate_limited"])

            clock = ManualClock()
            # Emulated time runs 30 s a step whatever the renderer's real pace: no job deadline within reach.
            settings = settings_for(emu, tmp_path, rate_limit="2/min", job_deadline_s=1e6)
            clients = [VeoClient(settings, clock=clock) for _ in range(2)]
            for c in clients:
                await c.start()
            try:
                jobs = [
                    await clients[0].submit(GenerateRequest(prompt="shared quota", duration_seconds=4))
                    for i in range(JOBS)
                ]
                config = WorkerConfig(concurrency=JOBS // 2, lease_s=600.0, idle_s=1.0, drain=True)
                workers = [c.worker(config) for c in clients]
                runs = [asyncio.create_task(w.run()) for w in workers]
                await eventually(lambda: [w.stats.claimed for w in workers] == [3, 3])  # both draw on the quota
                for step in range(10_000):
                    if all(r.done() for r in runs):
                        break
                    if step < JOBS:
                        # This step's slot is due now and its submit on its way: wait until it arrives, so that
                        # none is in flight while the emulator's clock moves (a bound only turns a hang into a
                        # failure below).
                        for _ in range(500):
                            if await arrived() >= step + 1:
                                break
                            await asyncio.sleep(0.02)
                    # After the last submit, renders finish in real time while emulated time moves on.
                    await asyncio.sleep(0.05)
                    # A hair past the slot: a slot and a sleep's deadline computed by different float additions
                    # may differ in the last bit.
                    (await admin.post("/_emulator/clock", json={"advance_s": STEP_S})).raise_for_status()
                    clock.advance(STEP_S)
                done = [await clients[0].get_job(j.id) for j in jobs]
                stats = (await admin.get("/_emulator/stats")).json()
                assert all(r.done() for r in runs)
                assert (stats["submits_total"], stats["rate_limited"]) == (JOBS, 0)
                assert [j.state for j in done] == [S.SUCCEEDED] * JOBS
                # One submit per 30 s across both workers, each the moment its slot came: each worker pacing
                # alone would have sent two at 0 s, two at 30 s...
                ops = (await admin.get("/_emulator/operations")).json()["operations"]
                created = sorted(dt.datetime.fromisoformat(op["created"]) for op in ops)
                offsets = [(t - created[0]).total_seconds() for t in created]
                assert offsets == pytest.approx([i * STEP_S for i in range(JOBS)], abs=1e-3)
            finally:
                for c in clients:
                    await c.aclose()
