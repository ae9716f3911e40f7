"""`--provider emulator` jobs outlive the process that started them: its state is kept beside the data dir, so
a job interrupted while running is finished by `resume` from a new process's emulator, without a new submit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from veokit.config import Settings
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service import Progress
from veokit.service.client import VeoClient


def settings(tmp_path: Path) -> Settings:
    return Settings(
        provider="emulator",
        database_url=f"sqlite:///{tmp_path / 'jobs.db'}",
        data_dir=tmp_path / "data",
        emulator_state_dir=tmp_path / "data" / "emulator",
        out_dir=tmp_path / "videos",
    )


def submits(state_dir: Path) -> int:
    doc = json.loads((state_dir / "journal" / "meta" / "stats.json").read_text())
    return sum(n for per_model in doc["submits"].values() for n in per_model.values())


async def test_an_interrupted_emulator_job_is_finished_by_resume_without_a_new_submit(tmp_path: Path) -> None:
    async with VeoClient(settings(tmp_path)) as first:
        job = await first.submit(GenerateRequest(prompt="a red fox trotting through fresh snow"))
        submitted = asyncio.Event()  # the paid call happened: the job polls its operation

        def seen(p: Progress) -> None:
            if p.state == JobState.RUNNING.value:
                submitted.set()

        running = asyncio.create_task(first.wait(job.id, on_progress=seen))
        await submitted.wait()
        running.cancel()  # the process is interrupted while the video renders; its emulator stops with it
        await asyncio.gather(running, return_exceptions=True)
        interrupted = await first.get_job(job.id)
    assert interrupted.state is JobState.RUNNING and interrupted.attempts == 1

    async with VeoClient(settings(tmp_path)) as second:  # a new process: a new in-process emulator
        [done] = await second.resume(job.id)
    assert done.state is JobState.SUCCEEDED, done.error
    assert done.attempts == 1 and done.operation_name == interrupted.operation_name  # polled, never sent again
    assert Path(done.results[0].path).is_file()
    assert submits(tmp_path / "data" / "emulator") == 1
