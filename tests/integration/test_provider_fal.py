"""veokit's fal.ai provider end to end over real HTTP against the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.emulator.faults import parse_rule
from veokit.emulator.task_media import credential_id
from veokit.media.probe import Expectation, first_frame_rgb, verify_mp4
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.providers.base import OpState
from veokit.providers.fal import FalProvider
from veokit.service.client import VeoClient
from veokit.service.providers import build_provider

from .conftest import DEADLINE_NOT_UNDER_TEST_S
from .test_routing import cli

KEY = "test-fal-key"
PROMPT = "a red fox trotting through snow"


def fal_settings(emu: EmulatorServer, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        **{
            "fal_key": KEY,
            "fal_base_url": emu.base_url,
            "database_url": f"sqlite:///{tmp_path / 'j.db'}",
            "data_dir": tmp_path,
            "out_dir": tmp_path / "videos",
            "poll_scale": 0.01,
            "job_deadline_s": DEADLINE_NOT_UNDER_TEST_S,
            **kw,
        }
    )


def png(color: tuple[int, int, int]) -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), color).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


def req(**kw: Any) -> GenerateRequest:
    return GenerateRequest(**{"prompt": PROMPT, "seed": 7, "duration_seconds": 4, **kw})


@pytest.fixture
async def fal(emulator: EmulatorServer, tmp_path: Path) -> Any:
    async with VeoClient(fal_settings(emulator, tmp_path)) as client:
        yield client


@pytest.fixture
async def provider(emulator: EmulatorServer, tmp_path: Path) -> Any:
    p = build_provider("fal", fal_settings(emulator, tmp_path), default_catalog())
    assert isinstance(p, FalProvider)
    yield p
    await p.aclose()


async def test_text_to_video_silent_portrait(fal: VeoClient, emulator: EmulatorServer) -> None:
    job = await fal.generate(req(aspect_ratio="9:16", generate_audio=False), provider="fal")
    [r] = job.results
    assert (job.model, r.width, r.height, round(r.duration_s), r.audio_codec) == (
        "fal-ai/veo3.1/fast",
        720,
        1280,
        4,
        None,
    )
    assert job.cost_usd == pytest.approx(4 * 0.10)
    assert job.operation_name and job.operation_name.startswith("fal-ai/veo3.1/requests/")
    assert emulator.stats()["submits"] == {credential_id("fal", KEY): {"fal-ai/veo3.1/fast": 1}}


async def test_image_first_last_and_references(fal: VeoClient, emulator: EmulatorServer) -> None:
    red, blue = png((200, 30, 40)), png((30, 40, 200))
    job, _, _ = await asyncio.gather(  # concurrently: the emulator renders two at a time
        fal.generate(req(image=red), provider="fal"),
        fal.generate(req(image=red, last_frame=blue), provider="fal"),
        fal.generate(
            req(model="veo-3.1-generate-001", duration_seconds=8, reference_images=(red, blue)), provider="fal"
        ),
    )
    frame = first_frame_rgb(Path(job.results[0].path)).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12
    modes = sorted(t.mode for t in emulator.state.tasks.all())
    assert modes == ["first-last-frame", "image-to-video", "reference-to-video"]
    with pytest.raises(E.InvalidRequest) as exc:  # no reference endpoint on the Fast tier: refused before sending
        await fal.submit(req(reference_images=(red,), duration_seconds=8), provider="fal")
    assert exc.value.field == "reference_images"


async def test_extension_of_a_local_video(fal: VeoClient) -> None:
    source = await fal.generate(req(aspect_ratio="9:16", generate_audio=False), provider="fal")  # rendered above
    job = await fal.generate(
        GenerateRequest(
            prompt="the fox keeps running",
            seed=7,
            aspect_ratio="9:16",
            generate_audio=False,
            video=VideoInput.from_path(source.results[0].path),
        ),
        provider="fal",
    )
    [r] = job.results
    assert (r.width, r.height, round(r.duration_s)) == (720, 1280, 11)  # 4 s in, 7 s added
    assert job.cost_usd == pytest.approx(8 * 0.10)  # billed as an 8 s clip: never under the bill


async def test_filtered_and_failed(fal: VeoClient) -> None:
    with pytest.raises(E.ContentFiltered) as exc:  # found on the result: 422 content_policy_violation
        await fal.generate(req(prompt="x [emulate:filtered]"), provider="fal")
    assert exc.value.reasons
    with pytest.raises(E.GenerationFailed):  # found in the status: COMPLETED with an error
        await fal.generate(req(prompt="x [emulate:failed]"), provider="fal")
    assert sorted(j.cost_usd for j in await fal.list_jobs()) == [0.0, 0.0]


async def test_errors_map_to_the_error_tree(provider: FalProvider, emulator: EmulatorServer, tmp_path: Path) -> None:
    bad = build_provider("fal", fal_settings(emulator, tmp_path, fal_key="fal-very-secret-99"), default_catalog())
    with pytest.raises(E.AuthenticationError) as auth:
        await bad.submit(req(model="fal-ai/veo3.1/fast"))
    assert "very-secret" not in str(auth.value)
    await bad.aclose()
    rules = [
        {"route": "submit", "fault": {"kind": "http", "status": status, "body": body, "headers": headers}}
        for status, body, headers in (
            (402, {"detail": "User is locked. Reason: Exhausted balance."}, {}),
            (429, {"detail": "Too many requests"}, {"Retry-After": "7"}),
            (503, {"detail": "Service unavailable"}, {}),
        )
    ]
    emulator.state.faults.add([parse_rule(r) for r in rules])
    for kind in (E.BillingError, E.RateLimited, E.ServerError):
        with pytest.raises(kind) as exc:
            await provider.submit(req(model="fal-ai/veo3.1/fast"))
        if isinstance(exc.value, E.RateLimited):
            assert exc.value.retry_after_s == 7
    assert emulator.stats()["submits_total"] == 0


async def test_cancel(provider: FalProvider, emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.state.holds.add()  # still running when the cancel arrives, however slow the machine
    name = await provider.submit(req(model="fal-ai/veo3.1/fast"))
    await provider.cancel(name)
    deadline = time.monotonic() + 10
    while (status := await provider.poll(name, spool_dir=tmp_path)).state is OpState.RUNNING:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert status.state is OpState.FAILED and "cancel" in str(status.error).lower()


def test_cli_saves_a_valid_mp4(emulator: EmulatorServer, tmp_path: Path) -> None:
    p = cli(
        tmp_path,
        "generate",
        PROMPT,
        "--provider",
        "fal",
        "--duration",
        "4",
        "--seed",
        "7",
        "--aspect",
        "9:16",
        "--no-audio",
        "--out",
        str(tmp_path / "out"),
        "--json",
        FAL_KEY=KEY,
        VEOKIT_FAL_BASE_URL=emulator.base_url,
    )
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    verify_mp4(Path(job["results"][0]["path"]), Expectation(width=720, height=1280, duration_s=4.0, audio=False))
