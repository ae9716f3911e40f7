"""A paid submit whose answer was lost is settled by asking the provider what it accepted, over real HTTP.

Replicate lists every prediction of the account (running ones included), so a cut answer is continued and a
request that never arrived is sent again, without a human. fal lists a request only once it has *ended*: a
match is continued, but silence proves nothing, so a request not (yet) listed is set aside. Kie lists nothing:
set aside. In every case the emulator counts one accepted submit at most: nothing is paid twice.

The engine waits :data:`~veokit.engine.submits.LISTING_SETTLE_S` before asking; the tests' clock ends that wait
when the test says so (at once, or once the emulator's task has ended) instead of sleeping it out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.emulator import replicate as emulator_replicate
from veokit.engine import submits
from veokit.engine.worker import Worker
from veokit.models.catalog import default_catalog
from veokit.models.job import Job, JobState
from veokit.models.request import GenerateRequest, ImageInput
from veokit.providers import replicate as replicate_provider
from veokit.resilience.clock import SystemClock
from veokit.service.client import VeoClient
from veokit.service.providers import build_provider

from .conftest import DEADLINE_NOT_UNDER_TEST_S, add_faults, eventually
from .test_worker import config as worker_config
from .test_worker import dead_owner, shifted

PROMPT = "a heron lifting off a misty river"


class SettleWhen(SystemClock):
    """Real time, except the engine's wait before asking the provider, which ends once ``ready()`` is true."""

    def __init__(self, ready: Callable[[], bool] = lambda: True) -> None:
        self.ready = ready
        self.settle_waits = 0

    async def sleep(self, seconds: float) -> None:
        if seconds != submits.LISTING_SETTLE_S:
            await super().sleep(seconds)
            return
        self.settle_waits += 1
        await eventually(self.ready)


def settings(emu: EmulatorServer, tmp_path: Path, provider: str) -> Settings:
    creds: dict[str, dict[str, Any]] = {
        "replicate": {"replicate_api_token": "test-replicate-token", "replicate_base_url": emu.base_url},
        "fal": {"fal_key": "test-fal-key", "fal_base_url": emu.base_url},
        "kie": {"kie_api_key": "test-kie-key", "kie_base_url": emu.base_url},
    }
    return Settings(
        **creds[provider],
        database_url=f"sqlite:///{tmp_path / 'j.db'}",
        data_dir=tmp_path,
        out_dir=tmp_path / "videos",
        poll_scale=0.01,
        job_deadline_s=DEADLINE_NOT_UNDER_TEST_S,
    )


def request(seconds: int = 4) -> GenerateRequest:
    return GenerateRequest(prompt=PROMPT, seed=7, duration_seconds=seconds, resolution="720p")


def png() -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), (200, 30, 40)).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


def cut_submit(emu: EmulatorServer, when: str) -> None:
    """The connection is reset after the emulator accepted the request (``after_body``), or before it read it."""
    add_faults(emu, {"route": "submit", "fault": {"kind": "reset", "when": when}})


def all_ended(emu: EmulatorServer) -> Callable[[], bool]:
    return lambda: all(emu.state.tasks.resolve(t) is not None for t in emu.state.tasks.all())


async def log(client: VeoClient, job_id: str) -> str:
    return "\n".join(e.message for e in await client.events(job_id))


async def only_job(client: VeoClient) -> Job:
    [job] = await client.list_jobs()
    return job


async def test_replicate_continues_the_prediction_it_lists_while_it_still_runs(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Replicate's listing shows a prediction from the moment it is created: the lookup finds it still running
    (held so), the job continues it, and it finishes with one submit and nothing for a human."""
    cut_submit(emulator, "after_body")
    hold = emulator.state.holds.add("operation", prompt=PROMPT)
    clock = SettleWhen()
    async with VeoClient(settings(emulator, tmp_path, "replicate"), clock=clock) as client:
        run = asyncio.create_task(client.generate(request(), provider="replicate"))

        async def continued() -> bool:
            return [j.state for j in await client.list_jobs()] == [JobState.RUNNING]

        await eventually(continued)
        [task] = emulator.state.tasks.all()
        assert emulator.state.tasks.resolve(task) is None  # still running when it was found
        emulator.state.holds.release(hold.id)
        job = await run
        assert job.state is JobState.SUCCEEDED and job.operation_name == task.id
        assert f"replicate lists operation {task.id} for exactly this request: continuing" in await log(client, job.id)
        assert clock.settle_waits == 1 and emulator.stats()["submits_total"] == 1
        assert await client.list_jobs(states=[JobState.NEEDS_ATTENTION]) == []


async def test_replicate_sends_again_a_request_that_never_arrived(emulator: EmulatorServer, tmp_path: Path) -> None:
    cut_submit(emulator, "before_body")
    async with VeoClient(settings(emulator, tmp_path, "replicate"), clock=SettleWhen()) as client:
        job = await client.generate(request(), provider="replicate")
        assert job.state is JobState.SUCCEEDED
        assert "replicate lists no operation for this request: it never arrived" in await log(client, job.id)
    assert emulator.stats()["submits_total"] == 1


async def test_fal_continues_a_request_once_its_listing_shows_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    """fal's Platform API lists a request once it has ended; by the time of the lookup this one has."""
    cut_submit(emulator, "after_body")
    clock = SettleWhen(all_ended(emulator))
    async with VeoClient(settings(emulator, tmp_path, "fal"), clock=clock) as client:
        job = await client.generate(request(), provider="fal")
        [task] = emulator.state.tasks.all()
        assert job.state is JobState.SUCCEEDED and job.operation_name == f"fal-ai/veo3.1/requests/{task.id}"
        assert "fal lists operation" in await log(client, job.id)
        assert await client.list_jobs(states=[JobState.NEEDS_ATTENTION]) == []
    assert clock.settle_waits == 1 and emulator.stats()["submits_total"] == 1


@pytest.mark.parametrize("when", ["after_body", "before_body"])
async def test_fal_sets_aside_a_request_its_listing_does_not_show(
    emulator: EmulatorServer, tmp_path: Path, when: str
) -> None:
    """Still rendering (held), or never sent: fal's listing cannot tell these apart, so neither is sent again."""
    cut_submit(emulator, when)
    hold = emulator.state.holds.add("operation", prompt=PROMPT)
    try:
        async with VeoClient(settings(emulator, tmp_path, "fal"), clock=SettleWhen()) as client:
            with pytest.raises(E.SubmitOutcomeUnknown):
                await client.generate(request(), provider="fal")
            job = await only_job(client)
            assert job.state is JobState.NEEDS_ATTENTION and "jobs reconcile" in (job.error or {})["message"]
    finally:
        emulator.state.holds.release(hold.id)
    assert emulator.stats()["submits_total"] == (1 if when == "after_body" else 0)


async def test_kie_lists_nothing_so_a_cut_submit_is_set_aside(emulator: EmulatorServer, tmp_path: Path) -> None:
    cut_submit(emulator, "after_body")
    clock = SettleWhen()
    async with VeoClient(settings(emulator, tmp_path, "kie"), clock=clock) as client:
        with pytest.raises(E.SubmitOutcomeUnknown):
            await client.generate(request(8), provider="kie")  # Kie's clips are 8 s
        assert (await only_job(client)).state is JobState.NEEDS_ATTENTION
    assert clock.settle_waits == 0  # nothing to ask, so no wait to ask it
    assert emulator.stats()["submits_total"] == 1


# -- the lookups themselves ---------------------------------------------------------------------------------------
def provider_for(emu: EmulatorServer, tmp_path: Path, name: str) -> Any:
    return build_provider(name, settings(emu, tmp_path, name), default_catalog())


def at(emu: EmulatorServer) -> dt.datetime:
    return dt.datetime.fromtimestamp(emu.state.clock.now(), dt.UTC)


async def test_replicate_lookup_matches_exactly_oldest_first(emulator: EmulatorServer, tmp_path: Path) -> None:
    p = provider_for(emulator, tmp_path, "replicate")
    try:
        since = at(emulator)
        mine = request().model_copy(update={"model": "veo-3.1-fast-generate-001"})
        first = await p.submit(mine)
        await p.submit(mine.model_copy(update={"seed": 8}))  # differs in one input: another request
        await p.submit(mine.model_copy(update={"model": "veo-3.1-generate-001"}))  # another model
        emulator.state.clock.advance(1)
        second = await p.submit(mine)
        assert await p.find_submitted(mine, since=since) == [first, second]
        assert await p.find_submitted(mine, since=at(emulator)) == []  # nothing since now
        framed = mine.model_copy(update={"image": png()})
        await p.submit(framed)
        # Replicate shows an inline image as a URL in `input`, not the data URI sent: that prediction may be
        # ours or not, so neither it nor its text-only twin can be told (None, never a guess either way).
        assert await p.find_submitted(framed, since=since) is None
        assert await p.find_submitted(mine, since=since) is None
        assert await p.find_submitted(mine.model_copy(update={"prompt": "elsewhere"}), since=since) == []
    finally:
        await p.aclose()


async def test_replicate_lookup_reads_a_bounded_number_of_pages(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_replicate, "PAGE_SIZE", 1)
    p = provider_for(emulator, tmp_path, "replicate")
    try:
        since = at(emulator)
        mine = request().model_copy(update={"model": "veo-3.1-fast-generate-001"})
        name = await p.submit(mine)
        for seed in (8, 9):
            emulator.state.clock.advance(1)
            await p.submit(mine.model_copy(update={"seed": seed}))
        monkeypatch.setattr(replicate_provider, "MAX_PAGES", 3)
        assert await p.find_submitted(mine, since=since) == [name]  # on the third page, newest first
        monkeypatch.setattr(replicate_provider, "MAX_PAGES", 2)
        assert await p.find_submitted(mine, since=since) is None  # the window runs past what it may read
    finally:
        await p.aclose()


async def test_fal_lookup_finds_ended_requests_only(emulator: EmulatorServer, tmp_path: Path) -> None:
    p = provider_for(emulator, tmp_path, "fal")
    try:
        since = at(emulator)
        mine = request().model_copy(update={"model": "veo-3.1-fast-generate-001"})
        hold = emulator.state.holds.add("operation", prompt=PROMPT)
        name = await p.submit(mine)
        assert await p.find_submitted(mine, since=since) is None  # rendering: fal does not list it yet
        emulator.state.holds.release(hold.id)
        await eventually(all_ended(emulator))
        assert await p.find_submitted(mine, since=since) == [name]
        assert await p.find_submitted(mine.model_copy(update={"seed": 8}), since=since) is None  # never []
        assert await p.find_submitted(mine, since=at(emulator) + dt.timedelta(seconds=1)) is None
    finally:
        await p.aclose()


@pytest.mark.parametrize("name", ["replicate", "fal"])
async def test_a_job_whose_worker_died_mid_submit_continues_what_the_provider_lists(
    emulator: EmulatorServer, tmp_path: Path, name: str
) -> None:
    """The worker died after the provider accepted and before anything was recorded; the next claim asks the
    provider (fal: once the request has ended, as it has by then) and continues that operation. One submit."""
    async with VeoClient(settings(emulator, tmp_path, name)) as client:
        job = await client.submit(request(), provider=name)
        [held] = await client._store.claim(dead_owner(), lease_s=3.0)
        await client._store.begin_submit(job.id, fence=held.lease_token, attempts=1)
        accepted = await client._engine.provider_for(name).submit(await client._engine._wire_request(job))
        await eventually(all_ended(emulator))
        result = await asyncio.wait_for(Worker(client._engine, worker_config(), wall=shifted(10.0)).run(), 60)
        assert result.finished == {"succeeded": 1}
        done = await client.get_job(job.id)
        assert done.operation_name == accepted and f"{name} lists operation {accepted}" in await log(client, job.id)
    assert emulator.stats()["submits_total"] == 1
