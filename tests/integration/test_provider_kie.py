"""veokit's Kie.ai provider end to end over real HTTP against the emulator, plus its wire parsing and the
optional callback receiver."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.emulator.task_media import credential_id
from veokit.engine.download import download
from veokit.media.probe import Expectation, first_frame_rgb, verify_mp4
from veokit.models.catalog import default_catalog
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.providers import kie_wire as W
from veokit.providers.base import OpState
from veokit.providers.kie import KieProvider
from veokit.server.kie_callback import callback_app, signature
from veokit.service.client import VeoClient
from veokit.service.providers import build_provider

from .conftest import DEADLINE_NOT_UNDER_TEST_S
from .test_routing import cli

KEY = "test-kie-key"
PROMPT = "a red fox trotting through snow"  # the contract tests' prompt and seed: renders are shared
SEED = 12345


def kie_settings(emu: EmulatorServer, tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        **{
            "kie_api_key": KEY,
            "kie_base_url": emu.base_url,
            "data_dir": tmp_path,
            "database_url": f"sqlite:///{tmp_path / 'j.db'}",
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
    return GenerateRequest(**{"prompt": PROMPT, "seed": SEED, **kw})


@pytest.fixture
async def kie(emulator: EmulatorServer, tmp_path: Path) -> Any:
    async with VeoClient(kie_settings(emulator, tmp_path)) as client:
        yield client


async def test_text_to_video_costs_credits_in_dollars(kie: VeoClient, emulator: EmulatorServer, tmp_path: Path) -> None:
    job = await kie.generate(req(), provider="kie")
    [r] = job.results
    assert (job.model, r.width, r.height, round(r.duration_s), r.audio_codec) == ("veo3_fast", 1280, 720, 8, "aac")
    assert job.cost_usd == pytest.approx(60 * 0.005)  # 60 credits at $0.005
    assert job.operation_name and ":" not in job.operation_name
    assert emulator.stats()["submits"] == {credential_id("kie", KEY): {"veo3_fast": 1}}
    assert KEY.encode() not in (tmp_path / "j.db").read_bytes()
    provider = kie._provider("kie")
    assert isinstance(provider, KieProvider) and await provider.balance() == 10_000 - 60


async def test_1080p_portrait_polls_the_upgrade_until_ready(kie: VeoClient) -> None:
    job = await kie.generate(req(aspect_ratio="9:16", resolution="1080p"), provider="kie")
    [r] = job.results
    assert (r.width, r.height) == (1080, 1920)
    assert job.operation_name and job.operation_name.endswith(":1080p")
    assert job.cost_usd == pytest.approx(65 * 0.005)


async def test_image_to_video_uploads_the_local_image(kie: VeoClient, emulator: EmulatorServer) -> None:
    job = await kie.generate(req(image=png((200, 30, 40))), provider="kie")
    frame = first_frame_rgb(Path(job.results[0].path)).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12
    [task] = emulator.state.tasks.all()
    assert task.params["generationType"] == "FIRST_AND_LAST_FRAMES_2_VIDEO"
    assert task.params["imageUrls"][0].startswith(emulator.base_url + "/_emulator/uploads/")


async def test_first_and_last_frame_and_references(kie: VeoClient, emulator: EmulatorServer) -> None:
    red, blue = png((200, 30, 40)), png((30, 40, 200))
    await asyncio.gather(
        kie.generate(req(image=red, last_frame=blue), provider="kie"),
        kie.generate(req(reference_images=(red, blue)), provider="kie"),
    )
    params = sorted((t.params["generationType"], len(t.params["imageUrls"])) for t in emulator.state.tasks.all())
    assert params == [("FIRST_AND_LAST_FRAMES_2_VIDEO", 2), ("REFERENCE_2_VIDEO", 2)]
    with pytest.raises(E.InvalidRequest) as exc:  # Quality has no REFERENCE_2_VIDEO: refused before sending
        await kie.submit(req(model="veo3", reference_images=(red,)), provider="kie")
    assert exc.value.field == "reference_images"
    assert emulator.stats()["submits_total"] == 2


async def test_extension_by_task_id(kie: VeoClient) -> None:
    first = await kie.generate(req(aspect_ratio="9:16"), provider="kie")
    job = await kie.generate(
        GenerateRequest(
            prompt="the fox keeps running",
            seed=SEED,
            aspect_ratio="9:16",
            video=VideoInput(uri=f"kie-task://{first.operation_name}"),
        ),
        provider="kie",
    )
    [r] = job.results
    assert (r.width, r.height, round(r.duration_s)) == (720, 1280, 15)  # the whole video, not only the new 7 s
    assert job.cost_usd == pytest.approx(0.30)
    with pytest.raises(E.InvalidRequest) as exc:
        await kie.submit(GenerateRequest(prompt="x", video=VideoInput(data=b"\0" * 16)), provider="kie")
    assert exc.value.field == "video" and "kie-task" in exc.value.message


async def test_filtered_and_failed_are_typed_free_and_refunded(kie: VeoClient) -> None:
    with pytest.raises(E.ContentFiltered) as exc:
        await kie.generate(req(prompt="x [emulate:filtered]"), provider="kie")
    assert exc.value.reasons and "polic" in exc.value.reasons[0]
    with pytest.raises(E.GenerationFailed):
        await kie.generate(req(prompt="x [emulate:failed]"), provider="kie")
    states = sorted((j.state.value, j.cost_usd) for j in await kie.list_jobs())
    assert states == [("failed", 0.0), ("filtered", 0.0)]
    provider = kie._provider("kie")
    assert isinstance(provider, KieProvider) and await provider.balance() == 10_000


async def test_bad_key_and_no_credits(emulator: EmulatorServer, tmp_path: Path) -> None:
    async with VeoClient(kie_settings(emulator, tmp_path, kie_api_key="kie-very-secret-123")) as client:
        with pytest.raises(E.AuthenticationError) as exc:  # HTTP 200 with code 401 in the body
            await client.generate(req(), provider="kie")
    assert "very-secret" not in str(exc.value)
    emulator.state.tasks.set_balance(credential_id("kie", KEY), 10)
    async with VeoClient(kie_settings(emulator, tmp_path / "b")) as client:
        with pytest.raises(E.BillingError):
            await client.generate(req(), provider="kie")
        [job] = await client.list_jobs()
    assert job.state is JobState.FAILED and job.cost_usd == 0
    assert emulator.stats()["submits_total"] == 0


async def test_temporary_result_url_expires(emulator: EmulatorServer, tmp_path: Path) -> None:
    provider = build_provider("kie", kie_settings(emulator, tmp_path), default_catalog())
    try:
        name = await provider.submit(req(model="veo3_fast"))
        deadline = time.monotonic() + 30
        while (status := await provider.poll(name, spool_dir=tmp_path)).state is OpState.RUNNING:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        emulator.state.clock.advance(emulator.config.result_url_ttl_s + 1)
        target = await provider.download_target(status.videos[0])
        assert target.headers == {}  # temporary public hosts never see the key
        async with httpx.AsyncClient() as http:
            with pytest.raises(E.DownloadExpired):
                await download(http, target, tmp_path / "late.mp4", provider="kie")
    finally:
        await provider.aclose()


# -- wire parsing: Kie's field drift and body codes -------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        {"successFlag": 1, "response": {"resultUrls": ["https://t/a.mp4"]}},
        {"successFlag": "1", "info": {"resultUrls": ["https://t/a.mp4"]}},
        {"status": "SUCCESS", "resultUrls": '["https://t/a.mp4"]'},
        {"successFlag": 1, "response": {"resultUrls": ["https://t/part.mp4"], "fullResultUrls": ["https://t/a.mp4"]}},
    ],
)
def test_result_urls_wherever_kie_puts_them(data: dict[str, Any]) -> None:
    assert W.parse_record(data) == W.KieRecord("succeeded", urls=["https://t/a.mp4"])


def test_record_states_and_codes() -> None:
    assert W.parse_record({"successFlag": 0}).state == "running"
    blocked = W.parse_record(
        {"successFlag": 3, "errorCode": 400, "errorMessage": "Your prompt was flagged as violating content policies"}
    )
    assert isinstance(blocked.error("kie"), E.ContentFiltered)
    assert isinstance(W.parse_record({"successFlag": 2, "errorCode": 451}).error("kie"), E.GenerationFailed)
    assert W.upgrade_url({"resultUrl": "https://t/b.mp4"}) == W.upgrade_url({"resultUrls": ["https://t/b.mp4"]})
    for code, kind in (
        (401, E.AuthenticationError),
        (402, E.BillingError),
        (422, E.InvalidRequest),
        (429, E.RateLimited),
        (455, E.ServerError),
        (501, E.GenerationFailed),
        (505, E.InvalidRequest),
    ):
        with pytest.raises(kind):
            W.raise_for_code("kie", {"code": code, "msg": "m", "data": None})
    assert W.kie_seed(12345) == 12345 and 10000 <= W.kie_seed(7) <= 99999
    assert W.task_id_of_video("kie-task://abc:1080p") == "abc" == W.task_id_of_video("kie-task:abc")


# -- the callback receiver -------------------------------------------------------------------------------------
async def test_callback_receiver_checks_signature_shape_and_task() -> None:
    seen: list[str] = []
    app = callback_app(
        is_known_task=lambda t: t == "task-1", on_callback=lambda ev: seen.append(ev.task_id), hmac_key="webhook-key"
    )
    payload = {"code": 200, "msg": "ok", "data": {"taskId": "task-1", "info": {"resultUrls": ["https://t/a.mp4"]}}}
    now = str(int(time.time()))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cb") as http:

        def post(body: Any, ts: str = now, sig: str | None = None) -> Any:
            task = body["data"].get("taskId", "")
            headers = {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": sig or signature(str(task), ts, "webhook-key")}
            return http.post("/kie/callback", content=json.dumps(body), headers=headers)

        assert (await post(payload)).status_code == 200
        assert (await post(payload, sig="forged")).status_code == 401
        assert (await post(payload, ts=str(int(time.time()) - 3600))).status_code == 401  # replayed
        other = {**payload, "data": {**payload["data"], "taskId": "someone-else"}}
        assert (await post(other)).status_code == 404
        assert (await post({"code": 200, "data": {}})).status_code == 400
    assert seen == ["task-1"]


def test_cli_saves_a_1080p_upgrade_then_extends_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    env = {"KIE_API_KEY": KEY, "VEOKIT_KIE_BASE_URL": emulator.base_url}
    p = cli(
        tmp_path,
        "generate",
        PROMPT,
        "--provider",
        "kie",
        "--aspect",
        "9:16",
        "--resolution",
        "1080p",
        "--seed",
        str(SEED),
        "--out",
        str(tmp_path / "out"),
        "--json",
        **env,
    )
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    probe = verify_mp4(
        Path(job["results"][0]["path"]), Expectation(width=1080, height=1920, duration_s=8.0, audio=True)
    )
    assert probe.video_codec == "h264"
    p = cli(
        tmp_path,
        "generate",
        "the fox keeps running",
        "--provider",
        "kie",
        "--aspect",
        "9:16",
        "--seed",
        str(SEED),
        "--extend",
        f"kie-task://{job['operation_name']}",
        "--out",
        str(tmp_path / "out"),
        "--json",
        **env,
    )
    assert p.returncode == 0, p.stderr
    extended = json.loads(p.stdout)
    assert round(extended["results"][0]["duration_s"]) == 15 and extended["cost_usd"] == pytest.approx(0.30)
