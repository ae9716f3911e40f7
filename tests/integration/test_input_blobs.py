"""Input images and videos live once in the store's blobs, not in job rows; whoever runs a job sends the recorded
bytes. On SQLite and PostgreSQL, through the library, the CLI and the agent tools."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from veokit.agent.results import data_of
from veokit.agent.tools_core import VideoToolkit
from veokit.emulator import EmulatorServer
from veokit.emulator.render import RenderSpec, render_mp4
from veokit.media.probe import first_frame_rgb
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.service.client import VeoClient
from veokit.store import SqlJobStore
from veokit.store.schema import blobs, budget_ledger, job_events, jobs

from .conftest import settings_for, stats
from .test_cli import veokit

S = JobState
PG_URL = os.environ.get("VEOKIT_TEST_PG_URL")
BIG = 48 << 20  # large enough that a row holding it could not go unnoticed; the bench goes to 500 MB
ROW_BYTES = 4096  # a job as list() returns it, whatever it extends


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
                for table in (budget_ledger, job_events, jobs, blobs):
                    await conn.execute(sa.delete(table))
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.aclose()


def png(rgb: tuple[int, int, int], size: tuple[int, int] = (1280, 720)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, "PNG")
    return buf.getvalue()


async def request_sizes(store: SqlJobStore) -> list[int]:
    async with store.engine.connect() as conn:
        query = sa.select(sa.func.length(sa.cast(jobs.c.request, sa.Text())))
        return list((await conn.execute(query)).scalars())


async def test_a_large_input_is_kept_once_and_job_rows_stay_small(clients: Callable[..., Any]) -> None:
    client: VeoClient = await clients()
    video = VideoInput(data=os.urandom(BIG))
    image = ImageInput.from_bytes(png((10, 200, 30), (64, 36)), name="green.png")
    made = [
        await client.submit(GenerateRequest(prompt="the fox keeps running", video=video)),
        await client.submit(GenerateRequest(prompt="the fox turns around", video=video)),
        await client.submit(GenerateRequest(prompt="a green field", image=image)),
    ]
    store = client._store
    assert isinstance(store, SqlJobStore)
    async with store.engine.connect() as conn:
        kept = dict((await conn.execute(sa.select(blobs.c.sha256, blobs.c.size))).all())
    assert kept == {video.sha256: BIG, image.sha256: len(image.data)}  # each content once, however many jobs

    assert max(await request_sizes(store)) < 1000
    listed = await client.list_jobs()
    assert [j.id for j in listed] == [j.id for j in reversed(made)]
    assert max(len(j.model_dump_json()) for j in listed) < ROW_BYTES
    assert listed[-1].request["video"] == {
        "uri": None,
        "blob": {"sha256": video.sha256, "size": BIG},
        "mime_type": "video/mp4",
    }
    # Whoever sends the job reads the bytes back from the store, and they hash like the request did.
    loaded = await client._engine.load_request(made[0])
    assert loaded.video is not None and loaded.video.data == video.data
    assert loaded.fingerprint() == made[0].fingerprint


async def test_resume_after_a_crash_sends_the_recorded_bytes(
    clients: Callable[..., Any], emu: EmulatorServer, tmp_path: Path
) -> None:
    slow_ok = {"job_deadline_s": 600.0}  # about bytes, not time: a loaded machine renders slowly
    first: VeoClient = await clients(**slow_ok)
    source = await first.generate(GenerateRequest(prompt="a fox in the snow", seed=3, duration_seconds=4))
    mp4 = Path(source.results[0].path).read_bytes()
    red = ImageInput.from_bytes(png((200, 30, 40)), name="red.png")
    framed = await first.submit(GenerateRequest(prompt="the red wall crumbles", image=red, duration_seconds=4))
    extended = await first.submit(GenerateRequest(prompt="the fox keeps running", video=VideoInput(data=mp4)))
    await first.aclose()  # gone before either job was sent: only the database remembers them
    Path(source.results[0].path).unlink()  # nor is the extended file around any more

    second: VeoClient = await clients(out_dir=tmp_path / "elsewhere", data_dir=tmp_path / "other-data", **slow_ok)
    done = {j.id: j for j in await second.resume()}
    assert [(done[j.id].state, done[j.id].error) for j in (framed, extended)] == [(S.SUCCEEDED, None)] * 2
    assert stats(emu)["submits_total"] == 3  # the source, then each job once
    frame = first_frame_rgb(Path(done[framed.id].results[0].path)).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12  # rendered from the image sent
    received = emu.state.inputs_dir / f"{hashlib.sha256(mp4).hexdigest()}.mp4"
    assert received.read_bytes() == mp4  # the emulator keeps an inline input video under its hash


def test_the_cli_and_agent_tools_show_inputs_without_their_bytes(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"  # a real 720p clip (extension sources are probed), megabytes of noise
    render_mp4(RenderSpec(prompt="noise", width=1280, height=720, duration_s=2.0, noise=True), big)
    assert big.stat().st_size > 10 * ROW_BYTES
    first = tmp_path / "first.png"
    first.write_bytes(png((1, 2, 3), (64, 36)))
    queued = [
        veokit(tmp_path, "enqueue", "the fox keeps running", "--extend", str(big), "--provider", "emulator", "--json"),
        veokit(tmp_path, "enqueue", "a field at dawn", "--image", str(first), "--provider", "emulator", "--json"),
    ]
    assert all(p.returncode == 0 for p in queued), [p.stderr for p in queued]
    extend_id, image_id = (json.loads(p.stdout)["id"] for p in queued)

    listing = veokit(tmp_path, "jobs", "list")
    assert listing.returncode == 0 and "the fox keeps running" in listing.stdout and "a field at dawn" in listing.stdout
    assert len(veokit(tmp_path, "jobs", "list", "--json").stdout) < 2 * ROW_BYTES
    shown = veokit(tmp_path, "jobs", "show", extend_id, "--json")
    assert shown.returncode == 0, shown.stderr
    video = json.loads(shown.stdout)["request"]["video"]
    assert video["uri"] is None and "data" not in video
    assert video["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    shown = json.loads(veokit(tmp_path, "jobs", "show", image_id, "--json").stdout)
    image = shown["request"]["image"]
    assert (image["mime_type"], image["name"], image["size_bytes"]) == ("image/png", "first.png", first.stat().st_size)
    assert "data" not in image


async def test_agent_tools_list_and_show_inputs_without_their_bytes(emu: EmulatorServer, tmp_path: Path) -> None:
    with VideoToolkit(VeoClient(settings_for(emu, tmp_path))) as kit:
        client = VeoClient(settings_for(emu, tmp_path))
        async with client:
            video = VideoInput(data=os.urandom(BIG))
            extend = await client.submit(GenerateRequest(prompt="the fox keeps running", video=video))
            framed = await client.submit(
                GenerateRequest(prompt="a field at dawn", image=ImageInput.from_bytes(png((1, 2, 3))))
            )
        listed = data_of(await kit.list_videos())["jobs"]
        status = data_of(await kit.video_status(extend.id))
    assert [(j["job_id"], j["extends"]) for j in listed] == [(framed.id, False), (extend.id, True)]
    assert status["extends"] is True and status["prompt"] == "the fox keeps running"
    assert len(json.dumps(listed)) < 2 * ROW_BYTES


async def test_a_job_whose_input_is_gone_fails_before_anything_is_sent(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client: VeoClient = await clients()
    job = await client.submit(GenerateRequest(prompt="a field", image=ImageInput.from_bytes(png((9, 9, 9)))))
    store = client._store
    assert isinstance(store, SqlJobStore)
    async with store.engine.begin() as conn:  # someone emptied the blob table by hand
        await conn.execute(sa.delete(blobs))
    done = await client.wait(job.id)
    assert done.state is S.FAILED and done.cost_usd == 0
    assert done.error is not None and done.error["type"] == "InvalidRequest"
    assert "cannot be read from the job store" in done.error["message"]
    assert stats(emu)["submits_total"] == 0
