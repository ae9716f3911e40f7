"""The rate limiter is waited out before `submitting` is written (issue 10): a job held back by pacing has sent
nothing and must not look as if it might have been paid for when its worker stops or dies meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

from veokit.emulator import EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service import VeoClient, WorkerConfig

from .conftest import eventually, settings_for, stats

S = JobState


async def test_a_job_waiting_for_the_rate_limiter_is_still_queued_when_its_worker_stops(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    async with VeoClient(settings_for(emu, tmp_path, rate_limit="1/min")) as client:
        first = await client.submit(GenerateRequest(prompt="paced one", duration_seconds=4))
        second = await client.submit(GenerateRequest(prompt="paced two", duration_seconds=4))
        worker = client.worker(WorkerConfig(concurrency=4, lease_s=30.0, idle_s=0.05, stop_grace_s=0.5))
        running = asyncio.create_task(worker.run())

        async def first_done() -> bool:
            return (await client.get_job(first.id)).state is S.SUCCEEDED

        await eventually(first_done)  # one submit a minute: the second waits ~60 s for its slot
        worker.stop()
        await asyncio.wait_for(running, 30)
        held = await client.get_job(second.id)
        assert (held.state, held.attempts, held.lease_owner) == (S.QUEUED, 0, None)
        assert all(e.to_state is not S.SUBMITTING for e in await client.events(second.id))
        assert stats(emu)["submits_total"] == 1
