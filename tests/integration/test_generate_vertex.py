"""veokit's Vertex provider end to end over real HTTP against the emulator."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from veokit import errors as E
from veokit.emulator import EmulatorServer
from veokit.media.probe import first_frame_rgb
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest, ImageInput
from veokit.service.client import VeoClient

from .conftest import settings_for, stats


async def test_text_to_video_inline_result(client: VeoClient, emu: EmulatorServer) -> None:
    job = await client.generate(GenerateRequest(prompt="a red fox trotting through snow", seed=7))
    assert job.state is JobState.SUCCEEDED
    [r] = job.results
    assert (r.width, r.height, r.video_codec, r.audio_codec) == (1280, 720, "h264", "aac")
    assert abs(r.duration_s - 8.0) < 0.1
    assert Path(r.path).is_file() and Path(r.path).stat().st_size == r.size_bytes
    assert not list(Path(r.path).parent.glob(".*part"))  # no temp files left behind
    assert job.operation_name and job.operation_name.startswith("projects/proj-1/locations/us-central1/")
    assert job.cost_usd == pytest.approx(8 * 0.10)  # veo-3.1-fast 720p with audio
    states = [e.to_state for e in await client.events(job.id)]
    assert states == [JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING, JobState.DOWNLOADING, JobState.SUCCEEDED]
    assert stats(emu)["submits_total"] == 1


async def test_portrait_silent_two_samples(client: VeoClient) -> None:
    job = await client.generate(
        GenerateRequest(
            prompt="rain on a window", aspect_ratio="9:16", duration_seconds=4, generate_audio=False, sample_count=2
        )
    )
    assert [(r.width, r.height, r.audio_codec) for r in job.results] == [(720, 1280, None)] * 2
    assert job.results[0].sha256 != job.results[1].sha256
    assert job.cost_usd == pytest.approx(2 * 4 * 0.10)


async def test_storage_uri_results_are_streamed_from_gcs(client: VeoClient, emu: EmulatorServer) -> None:
    job = await client.generate(GenerateRequest(prompt="a lighthouse", storage_uri="gs://my-bucket/out/"))
    [r] = job.results
    assert r.remote_uri and r.remote_uri.startswith("gs://my-bucket/out/")
    assert stats(emu)["downloads"] >= 1


async def test_image_to_video_starts_on_the_image(client: VeoClient) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), (200, 30, 40)).save(buf, "PNG")
    job = await client.generate(
        GenerateRequest(prompt="the red wall crumbles", image=ImageInput.from_bytes(buf.getvalue()))
    )
    frame = first_frame_rgb(Path(job.results[0].path)).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12


async def test_filtered_result_is_typed_and_free(client: VeoClient) -> None:
    with pytest.raises(E.ContentFiltered) as exc:
        await client.generate(GenerateRequest(prompt="something [emulate:filtered]"))
    assert exc.value.reasons
    [job] = await client.list_jobs()
    assert job.state is JobState.FILTERED and job.cost_usd == 0 and job.results == []


async def test_failed_generation_is_typed_and_free(client: VeoClient) -> None:
    with pytest.raises(E.GenerationFailed):
        await client.generate(GenerateRequest(prompt="something [emulate:failed]"))
    [job] = await client.list_jobs()
    assert job.state is JobState.FAILED and job.cost_usd == 0


async def test_express_mode_api_key(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, vertex_api_key="test-key", vertex_access_token=None, vertex_project=None)
    async with VeoClient(s) as c:
        job = await c.generate(GenerateRequest(prompt="express", duration_seconds=4))
    assert job.operation_name and job.operation_name.startswith("publishers/google/models/")
    assert any(k.startswith("key:") for k in stats(emu)["submits"])


async def test_rejected_token_fails_fast_without_leaking_it(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, vertex_access_token="ya29.very-secret-token-123")
    async with VeoClient(s) as c:
        with pytest.raises(E.AuthenticationError) as exc:
            await c.generate(GenerateRequest(prompt="x"))
        [job] = await c.list_jobs()
    assert job.state is JobState.FAILED
    assert "very-secret" not in str(exc.value) and "very-secret" not in json.dumps(job.model_dump(mode="json"))
    assert stats(emu)["submits_total"] == 0
    db = (tmp_path / "jobs.db").read_bytes()
    assert b"very-secret" not in db


async def test_service_account_adc_fetches_and_sends_quota_project(
    emu: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    sa = {
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "veo-bot@sa-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{emu.base_url}/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(sa))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    s = settings_for(emu, tmp_path, vertex_access_token=None, vertex_project=None, vertex_quota_project="billing-proj")
    async with VeoClient(s) as c:
        job = await c.generate(GenerateRequest(prompt="adc", duration_seconds=4))
    assert job.operation_name and job.operation_name.startswith("projects/sa-project/")
    st = stats(emu)
    assert "sa:veo-bot@sa-project.iam.gserviceaccount.com" in st["submits"]
    assert "billing-proj" in json.dumps(st.get("user_projects", {}))


async def test_impossible_requests_make_no_http_request(tmp_path: Path, counter) -> None:  # type: ignore[no-untyped-def]
    from veokit.config import Settings

    s = Settings(
        provider="vertex",
        vertex_base_url=counter.url,
        vertex_project="p",
        vertex_access_token="t",
        database_url=f"sqlite:///{tmp_path / 'j.db'}",
        out_dir=tmp_path,
    )
    ref = ImageInput.from_bytes(_png())
    cases = [
        ({"resolution": "4k", "duration_seconds": 4}, "duration_seconds"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"reference_images": (ref, ref, ref, ref)}, "reference_images"),
        ({"model": "veo-3.1-lite-generate-001", "resolution": "4k"}, "resolution"),
        ({"model": "veo-3.0-generate-001"}, "model"),
    ]
    async with VeoClient(s) as c:
        for kw, field in cases:
            with pytest.raises(E.InvalidRequest) as exc:
                await c.submit(GenerateRequest(prompt="x", model=str(kw.pop("model", "veo-3.1-generate-001")), **kw))
            assert exc.value.field == field
        assert await c.list_jobs() == []  # nothing recorded, nothing to clean up
    assert counter.count == 0


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(buf, "PNG")
    return buf.getvalue()
