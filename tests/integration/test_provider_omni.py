"""Gemini Omni end to end: veokit's omni and omni-vertex providers over real HTTP against the emulator, the cost
from usage, durability across a kill, and the CLI (dry run, jobs show, costs, doctor) as a user runs it."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from PIL import Image

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, first_frame_rgb, verify_mp4
from veokit.models.catalog import default_catalog
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.providers.base import OpState
from veokit.providers.omni import OmniProvider
from veokit.service.client import VeoClient

from .conftest import add_faults
from .test_cli import VEOKIT, env_for, veokit

KEY = "test-key"
MODEL = "gemini-omni-1.2-flash"
PRICE = default_catalog().find("omni", MODEL).token_price  # type: ignore[union-attr]


def omni_settings(emu: EmulatorServer, tmp_path: Path, *, vertex: bool = True, **kw: Any) -> Settings:
    vertex_creds = {"vertex_project": "proj-1", "vertex_access_token": "test-token"} if vertex else {}
    return Settings(
        **{
            "gemini_api_key": KEY,
            "omni_base_url": emu.base_url,
            "vertex_base_url": emu.base_url,
            **vertex_creds,
            "data_dir": tmp_path,
            "database_url": f"sqlite:///{tmp_path / 'j.db'}",
            "out_dir": tmp_path / "videos",
            "poll_scale": 0.01,
            "rate_limit": "off",
            "retry_base_s": 0.02,
            "retry_cap_s": 0.2,
            **kw,
        }
    )


def req(**kw: Any) -> GenerateRequest:
    return GenerateRequest(**{"prompt": "a paper boat on a canal", "resolution": "360p", "duration_seconds": 3, **kw})


def png(color: tuple[int, int, int]) -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), color).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


@pytest.fixture
async def omni(emulator: EmulatorServer, tmp_path: Path) -> Any:
    async with VeoClient(omni_settings(emulator, tmp_path)) as client:
        yield client


async def test_an_ai_studio_key_makes_a_video_and_pays_what_usage_says(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    async with VeoClient(omni_settings(emulator, tmp_path, vertex=False)) as omni:
        job = await omni.generate(req(aspect_ratio="9:16"))  # no provider named: with only a key, Omni it is
        last = (await omni.events(job.id))[-1].message
    [r] = job.results
    assert (job.provider, job.model, r.width, r.height, r.audio_codec) == ("omni", MODEL, 360, 640, "aac")
    assert r.remote_uri and "/files/" in r.remote_uri  # the Gemini API delivers a Files API URI by default
    assert r.usage is not None and r.usage.video_output_tokens == 3 * 1931
    assert PRICE is not None and job.cost_usd == pytest.approx(PRICE.cost(r.usage))
    assert job.cost_usd != job.estimate_usd  # the bill includes the thinking the estimate cannot know
    assert job.estimate_usd == pytest.approx(job.cost_usd, rel=0.05)
    assert "from usage (5,793 video + " in last and f"estimate ${job.estimate_usd:.4f}" in last
    assert emulator.stats()["submits_total"] == 1
    assert KEY.encode() not in (tmp_path / "j.db").read_bytes()


async def test_inline_delivery_decodes_to_disk_and_leaves_nothing_behind(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    async with VeoClient(omni_settings(emulator, tmp_path, omni_delivery="inline")) as client:
        job = await client.generate(req(seed=4), provider="omni")
    [r] = job.results
    assert r.remote_uri is None and r.usage is not None
    verify_mp4(Path(r.path), Expectation(width=640, height=360, duration_s=3.0, audio=True))
    assert [p.name for p in (tmp_path / "videos").iterdir()] == [Path(r.path).name]  # no spool or part files


async def test_first_and_last_frames_and_references(omni: VeoClient, emulator: EmulatorServer) -> None:
    red, blue = png((200, 30, 40)), png((30, 40, 200))
    framed, refs = await asyncio.gather(
        omni.generate(req(image=red, last_frame=blue), provider="omni"),
        omni.generate(req(reference_images=(red, blue)), provider="omni"),
    )
    frame = first_frame_rgb(Path(framed.results[0].path)).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12
    tasks = sorted(i.echo["generation_config"]["video_config"]["task"] for i in emulator.state.interactions.all())
    assert tasks == ["image_to_video", "reference_to_video"]
    assert refs.results[0].usage is not None
    with pytest.raises(E.InvalidRequest) as exc:  # refused before anything is sent
        await omni.submit(req(image=red, last_frame=blue, duration_seconds=12), provider="omni")
    assert exc.value.field == "duration_seconds" and emulator.stats()["submits_total"] == 2


async def test_extension_by_interaction_and_by_local_video(omni: VeoClient, emulator: EmulatorServer) -> None:
    first = await omni.generate(req(), provider="omni")
    assert first.operation_name
    by_ref = await omni.generate(
        req(prompt="the boat sails on", video=VideoInput(uri=f"omni-interaction://{first.operation_name}")),
        provider="omni",
    )
    assert by_ref.results[0].duration_s == pytest.approx(6, abs=0.1)  # the 3 s continued by 3 s
    by_file = await omni.generate(req(video=VideoInput.from_path(by_ref.results[0].path)), provider="omni")
    assert by_file.results[0].duration_s == pytest.approx(9, abs=0.1)
    # The estimate assumed the 10 s of context an extension may read; usage says what was read.
    assert by_ref.cost_usd is not None and by_ref.cost_usd < by_ref.estimate_usd
    with pytest.raises(E.InvalidRequest, match="can only be extended where they were made"):
        await omni.submit(
            req(video=VideoInput(uri=f"omni-interaction://{first.operation_name}")), provider="omni-vertex"
        )


async def test_blocked_and_failed_videos_are_typed_and_free(omni: VeoClient) -> None:
    with pytest.raises(E.ContentFiltered) as blocked:
        await omni.generate(req(prompt="a boat [emulate:filtered]"), provider="omni")
    with pytest.raises(E.GenerationFailed):
        await omni.generate(req(prompt="a boat [emulate:failed]"), provider="omni")
    jobs = {j.state: j for j in await omni.list_jobs()}
    assert jobs[JobState.FILTERED].cost_usd == 0.0 and jobs[JobState.FAILED].cost_usd == 0.0
    assert blocked.value.reasons and "policies" in blocked.value.reasons[0]


async def test_vertex_inline_and_cloud_storage(omni: VeoClient, emulator: EmulatorServer) -> None:
    inline = await omni.generate(req(), provider="omni-vertex")
    assert inline.operation_name and inline.operation_name.startswith("projects/proj-1/locations/us-central1/")
    usage = inline.results[0].usage
    assert inline.results[0].remote_uri is None and usage is not None and PRICE is not None
    assert inline.cost_usd == pytest.approx(PRICE.cost(usage))
    stored = await omni.generate(req(storage_uri="gs://bkt/omni"), provider="omni-vertex")
    uri = stored.results[0].remote_uri
    assert uri and uri.startswith("gs://bkt/omni/") and emulator.state.gcs_object_by_uri(uri) is not None
    extended = await omni.generate(
        req(video=VideoInput(uri=f"omni-vertex-interaction://{stored.operation_name}")), provider="omni-vertex"
    )
    assert extended.results[0].duration_s == pytest.approx(6, abs=0.1)


async def test_submit_faults_never_pay_twice(omni: VeoClient, emulator: EmulatorServer) -> None:
    add_faults(
        emulator,
        {"route": "submit", "times": 2, "fault": {"kind": "http", "status": 503}},
        {"route": "poll", "times": 2, "fault": {"kind": "http", "status": 500}},
    )
    job = await omni.generate(req(), provider="omni")
    assert job.state is JobState.SUCCEEDED and emulator.stats()["submits_total"] == 1
    add_faults(emulator, {"route": "submit", "fault": {"kind": "reset", "when": "after_body"}})
    with pytest.raises(E.SubmitOutcomeUnknown):
        await omni.generate(req(prompt="accepted, then the answer is lost"), provider="omni")
    assert emulator.stats()["submits_total"] == 2  # accepted once, never sent again
    [attention] = await omni.list_jobs(states=[JobState.NEEDS_ATTENTION])
    assert "jobs retry" in (attention.error or {}).get("message", "")
    add_faults(emulator, {"route": "submit", "fault": {"kind": "http", "status": 400}})
    with pytest.raises(E.InvalidRequest):
        await omni.generate(req(prompt="refused"), provider="omni")


async def test_a_cut_download_resumes(omni: VeoClient, emulator: EmulatorServer) -> None:
    add_faults(emulator, {"route": "download", "fault": {"kind": "truncate", "after_bytes": 20_000}})
    job = await omni.generate(req(), provider="omni")
    assert "download resumed 1x" in (await omni.events(job.id))[-1].message


@pytest.mark.slow
async def test_a_large_inline_result_streams_to_disk_with_flat_memory(emulator: EmulatorServer, tmp_path: Path) -> None:
    target = 100_000_000
    async with httpx.AsyncClient(timeout=120) as http:
        provider = OmniProvider(
            auth=_Key(), base_url=emulator.base_url, delivery="inline", client=http, offer_lookup=_lookup
        )
        huge = req(
            prompt=f"[emulate:large:{target}] a very long take", model=MODEL, resolution="720p", duration_seconds=4
        )
        name = await provider.submit(huge)
        [item] = emulator.state.interactions.all()
        deadline = time.monotonic() + 120
        while emulator.state.interactions.resolve(item) is None:  # wait without pulling the huge body
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert item.render is not None
        with item.render.result().path.open("rb") as f:
            want = hashlib.file_digest(f, "sha256").hexdigest()
        proc, peak, stop = psutil.Process(), [0], threading.Event()
        baseline = proc.memory_info().rss

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            status = await provider.poll(name, spool_dir=tmp_path)
        finally:
            stop.set()
            sampler.join()
    [video] = status.videos
    assert status.state is OpState.SUCCEEDED and video.inline_size and video.inline_size >= target
    assert video.inline_sha256 == want
    assert peak[0] - baseline < 48 * 2**20, f"RSS grew by {(peak[0] - baseline) / 2**20:.0f} MiB"


class _Key:
    secret_headers = frozenset({"x-goog-api-key"})

    async def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": KEY}

    def secrets(self) -> tuple[str | None, ...]:
        return (KEY,)


def _lookup(provider: str, model: str) -> Any:
    return default_catalog().offer(provider, model, allow_retired=True)


# -- durability and the CLI -------------------------------------------------------------------------------
def test_kill_while_polling_then_resume_never_creates_a_second_interaction(tmp_path: Path) -> None:
    """The interaction id is recorded before the first poll; after a SIGKILL, resume polls that interaction.

    Deterministic: the interaction cannot finish until the test advances the emulator's clock."""
    with EmulatorServer(EmulatorConfig(latency_s=3600), port=0) as emu:
        env = {"GEMINI_API_KEY": KEY, "VEOKIT_OMNI_BASE_URL": emu.base_url, "VEOKIT_POLL_SCALE": "0.01"}
        env["VEOKIT_JOB_DEADLINE_S"] = "86400"  # only the emulator clock decides when it is done
        args = [*VEOKIT, "generate", "a slow tide", "--resolution", "360p", "--duration", "3", "--out", "v"]
        proc = subprocess.Popen(
            args, env=env_for(tmp_path, **env), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            # A hang detector, not a speed test: each look is a CLI start, seconds long on a loaded machine.
            deadline = time.monotonic() + 600
            job: dict[str, Any] = {}
            while time.monotonic() < deadline:
                jobs = json.loads(veokit(tmp_path, "jobs", "list", "--json", **env).stdout or "[]")
                job = jobs[0] if jobs else {}
                if job.get("state") == "running" and emu.stats()["polls"] >= 1:
                    break
                time.sleep(0.1)
            assert job.get("state") == "running" and job["operation_name"].startswith("v1_")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        assert emu.stats()["submits_total"] == 1

        emu.state.clock.advance(3600)  # now the interaction is done
        p = veokit(tmp_path, "resume", "--json", **env)
        assert p.returncode == 0, p.stderr
        [done] = json.loads(p.stdout)
        assert (done["id"], done["state"], done["operation_name"]) == (job["id"], "succeeded", job["operation_name"])
        assert emu.stats()["submits_total"] == 1 and done["results"][0]["usage"]["video_output_tokens"] == 3 * 1931

        shown = veokit(tmp_path, "jobs", "show", job["id"], **env)
        assert f"cost: ${done['cost_usd']:.4f} (from usage: 5,793 video" in shown.stdout
        assert f"estimated ${done['estimate_usd']:.4f}" in shown.stdout
        costs = json.loads(veokit(tmp_path, "costs", "--json", **env).stdout)
        [row] = costs["rows"]
        assert (row["provider"], row["model"]) == ("omni", MODEL)  # the ledger keeps four decimals
        assert row["spent_usd"] == pytest.approx(done["cost_usd"], abs=1e-4)
        assert row["spent_estimate_usd"] == pytest.approx(done["estimate_usd"], abs=1e-4)
        assert "estimated" in veokit(tmp_path, "costs", **env).stdout


def test_dry_run_prices_omni_per_second_and_auto_compares_it_without_swapping_models(tmp_path: Path) -> None:
    env = {"GEMINI_API_KEY": "k", "VEOKIT_VERTEX_PROJECT": "p", "VEOKIT_VERTEX_ACCESS_TOKEN": "t"}
    p = veokit(tmp_path, "generate", "rain", "--provider", "omni", "--duration", "12", "--dry-run", **env)
    assert p.returncode == 0, p.stderr
    assert "$1.22 = 1 x 12 s x $0.1014/s" in p.stdout and "69,504 video tokens at $17.50/M" in p.stdout
    p = veokit(tmp_path, "generate", "rain", "--provider", "auto", "--dry-run", "--json", **env)
    doc = json.loads(p.stdout)
    assert (doc["family"], doc["provider"]) == ("veo-3.1-fast", "vertex")  # a Veo request stays Veo
    alternatives = {a["model"]: a for a in doc["alternatives"]}
    omni = alternatives["gemini-omni-1.2-flash"]
    assert omni["provider"] == "omni-vertex" and omni["usd_per_second"] == pytest.approx(0.1014, abs=1e-4)
    assert doc["estimate_usd"] == pytest.approx(0.80) and omni["estimate_usd"] == pytest.approx(0.811, abs=1e-3)
    p = veokit(tmp_path, "generate", "rain", "--provider", "auto", "--model", MODEL, "--dry-run", "--json", **env)
    doc = json.loads(p.stdout)
    assert (doc["family"], doc["provider"]) == (MODEL, "omni-vertex")  # a tie: Vertex comes first, as for Veo
    verdicts = {c["provider"]: c["verdict"] for c in doc["candidates"]}
    assert "same price" in verdicts["omni"] and "does not sell" in verdicts["vertex"]


def test_doctor_checks_both_omni_hosts(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1), port=0) as emu:
        p = veokit(
            tmp_path,
            "doctor",
            "--provider",
            "omni",
            "--provider",
            "omni-vertex",
            GEMINI_API_KEY=KEY,
            VEOKIT_OMNI_BASE_URL=emu.base_url,
            VEOKIT_VERTEX_BASE_URL=emu.base_url,
            VEOKIT_VERTEX_PROJECT="p",
            VEOKIT_VERTEX_ACCESS_TOKEN="test-token",
        )
        bad_key = {"GEMINI_API_KEY": "AIzaSyBad-bad-bad-bad-bad-bad-bad", "VEOKIT_OMNI_BASE_URL": emu.base_url}
        bad = veokit(tmp_path, "doctor", "--provider", "omni", **bad_key)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"ok  omni: credentials accepted; {MODEL} available" in p.stdout
    assert f"ok  omni-vertex: credentials accepted; {MODEL} available" in p.stdout
    assert bad.returncode == 1 and "FAIL omni: omni: credentials rejected" in bad.stderr and "AIza" not in bad.stderr
