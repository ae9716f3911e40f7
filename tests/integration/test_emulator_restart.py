"""A job started against an emulator with ``state_dir`` is finished by ``resume`` after the emulator (and the
client) went away: the capability an in-process ``--provider emulator`` needs to survive an interrupt.

The second emulator gets a port of its own, as a new process would; the operation name carries no host.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient

from .conftest import settings_for, stats


async def test_resume_after_the_emulator_restarted_submits_nothing_new(tmp_path: Path) -> None:
    cfg = EmulatorConfig(latency_s=3600.0, as_of=dt.date(2026, 10, 1), state_dir=tmp_path / "emulator-state")
    async with EmulatorServer(cfg) as first, VeoClient(settings_for(first, tmp_path)) as c:
        job = await c.submit(GenerateRequest(prompt="a lighthouse at dusk", duration_seconds=4))
        job = await c._engine._submit(job)  # accepted and recorded; then the process is interrupted
    assert job.state is JobState.RUNNING and job.operation_name

    async with EmulatorServer(cfg) as second:
        second.state.clock.advance(3600)
        async with VeoClient(settings_for(second, tmp_path)) as c:
            [done] = await c.resume(job.id)
        assert done.state is JobState.SUCCEEDED and done.operation_name == job.operation_name
        [video] = done.results
        assert Path(video.path).is_file() and (video.width, video.height) == (1280, 720)
        assert stats(second)["submits_total"] == 1  # the submit before the restart, and none after
