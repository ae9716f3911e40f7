"""veokit's Replicate provider end to end over real HTTP against the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.emulator.faults import parse_rule
from veokit.emulator.task_media import credential_id
from veokit.media.probe import Expectation, verify_mp4
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.providers.base import OpState
from veokit.providers.replicate import ReplicateProvider
from veokit.service.client import VeoClient
from veokit.service.providers import build_provider

from .conftest import DEADLINE_NOT_UNDER_TEST_S
from .test_routing import cli

TOKEN = "test-replicate-token"
PROMPT = "a red fox trotting through snow"


def rep_settings(emu: EmulatorServer, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        **{
            "replicate_api_token": TOKEN,
            "replicate_base_url": emu.base_url,
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
async def rep(emulator: EmulatorServer, tmp_path: Path) -> Any:
    async with VeoClient(rep_settings(emulator, tmp_path)) as client:
        yield client


@pytest.fixture
async def provider(emulator: EmulatorServer, tmp_path: Path) -> Any:
    p = build_provider("replicate", rep_settings(emulator, tmp_path), default_catalog())
    assert isinstance(p, ReplicateProvider)
    yield p
    await p.aclose()


async def test_text_image_last_frame_and_references(rep: VeoClient, emulator: EmulatorServer) -> None:
    red, blue = png((200, 30, 40)), png((30, 40, 200))
    t2v, _, refs = await asyncio.gather(
        rep.generate(req(), provider="replicate"),
        rep.generate(req(image=red, last_frame=blue), provider="replicate"),
        rep.generate(
            req(model="veo-3.1-generate-001", duration_seconds=8, reference_images=(red,)), provider="replicate"
        ),
    )
    [r] = t2v.results
    assert (t2v.model, r.width, r.height, round(r.duration_s), r.audio_codec) == (
        "google/veo-3.1-fast",
        1280,
        720,
        4,
        "aac",
    )
    assert t2v.cost_usd == pytest.approx(4 * 0.15) and refs.cost_usd == pytest.approx(8 * 0.40)
    assert emulator.stats()["submits"] == {
        credential_id("replicate", TOKEN): {"google/veo-3.1-fast": 2, "google/veo-3.1": 1}
    }


async def test_limits_are_checked_before_sending(rep: VeoClient, emulator: EmulatorServer) -> None:
    ref = png((200, 30, 40))
    cases = [
        (req(model="veo-3.1", duration_seconds=8, aspect_ratio="9:16", reference_images=(ref,)), "aspect_ratio"),
        (req(model="veo-3.1", duration_seconds=4, reference_images=(ref,)), "duration_seconds"),
        (req(model="veo-3.1", duration_seconds=8, image=ref, reference_images=(ref,)), "reference_images"),
        (req(video=VideoInput(uri="https://example.com/a.mp4"), duration_seconds=8), "video"),
        (req(resolution="4k"), "resolution"),
    ]
    for request, field in cases:
        with pytest.raises(E.InvalidRequest) as exc:
            await rep.submit(request, provider="replicate")
        assert exc.value.field == field, (field, exc.value.message)
    assert emulator.stats()["submits_total"] == 0


async def test_safety_block_and_failure(rep: VeoClient) -> None:
    with pytest.raises(E.ContentFiltered) as exc:
        await rep.generate(req(prompt="x [emulate:filtered]"), provider="replicate")
    assert "(E005)" in exc.value.reasons[0]
    with pytest.raises(E.GenerationFailed):
        await rep.generate(req(prompt="x [emulate:failed]"), provider="replicate")


async def test_errors_map_to_the_error_tree(
    provider: ReplicateProvider, emulator: EmulatorServer, tmp_path: Path
) -> None:
    bad = build_provider(
        "replicate", rep_settings(emulator, tmp_path, replicate_api_token="r8_very-secret-1"), default_catalog()
    )
    with pytest.raises(E.AuthenticationError) as auth:
        await bad.submit(req(model="google/veo-3.1-fast"))
    assert "very-secret" not in str(auth.value)
    with pytest.raises(E.AuthenticationError):
        await bad.check("google/veo-3.1")  # type: ignore[attr-defined]
    await bad.aclose()
    await provider.check("google/veo-3.1")  # doctor's free, authenticated read
    problem = {
        "title": "Insufficient credit",
        "detail": "You have insufficient credit to run this model.",
        "status": 402,
    }
    emulator.state.faults.add(
        [
            parse_rule({"route": "submit", "fault": {"kind": "http", "status": 402, "body": problem}}),
            parse_rule(
                {
                    "route": "submit",
                    "fault": {
                        "kind": "http",
                        "status": 429,
                        "headers": {"Retry-After": "3"},
                        "body": {
                            "title": "Request was throttled",
                            "status": 429,
                            "detail": "Request was throttled. Expected available in 3 seconds.",
                        },
                    },
                }
            ),
        ]
    )
    with pytest.raises(E.BillingError):
        await provider.submit(req(model="google/veo-3.1-fast"))
    with pytest.raises(E.RateLimited) as limited:
        await provider.submit(req(model="google/veo-3.1-fast"))
    assert limited.value.retry_after_s == 3
    with pytest.raises(E.InvalidRequest) as invalid:  # the emulator's own 422, past the catalog
        await provider.submit(req(model="google/veo-3.1-fast", duration_seconds=5))
    assert "input.duration" in invalid.value.message
    assert emulator.stats()["submits_total"] == 0


async def test_cancel(provider: ReplicateProvider, emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.state.holds.add()  # still running when the cancel arrives, however slow the machine
    name = await provider.submit(req(model="google/veo-3.1-fast", prompt="x [emulate:failed]"))
    await provider.cancel(name)
    deadline = time.monotonic() + 10
    while (status := await provider.poll(name, spool_dir=tmp_path)).state is OpState.RUNNING:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert status.state is OpState.FAILED and "canceled" in str(status.error)


def test_cli_saves_a_valid_mp4(emulator: EmulatorServer, tmp_path: Path) -> None:
    p = cli(
        tmp_path,
        "generate",
        PROMPT,
        "--provider",
        "replicate",
        "--duration",
        "4",
        "--seed",
        "7",
        "--out",
        str(tmp_path / "out"),
        "--json",
        REPLICATE_API_TOKEN=TOKEN,
        VEOKIT_REPLICATE_BASE_URL=emulator.base_url,
    )
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    verify_mp4(Path(job["results"][0]["path"]), Expectation(width=1280, height=720, duration_s=4.0, audio=True))
