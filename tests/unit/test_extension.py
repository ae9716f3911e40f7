"""The extension rules (veokit.service.extension), checked before anything is paid: what can be extended, and
how each source is sent (the provider's copy while it keeps it, the saved file, a Kie task id)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from veokit import errors as E
from veokit.emulator.render import RenderSpec, render_mp4
from veokit.models.catalog import default_catalog
from veokit.models.job import Job, JobState, VideoResult
from veokit.service import extension
from veokit.service.extension import check_fits, extension_request, from_file, from_job, from_uri

CATALOG = default_catalog()
FINISHED = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC)
WITHIN = FINISHED + dt.timedelta(days=1)  # Vertex and Gemini keep results 2 days
AFTER = FINISHED + dt.timedelta(days=3)


def job(
    tmp_path: Path,
    *,
    provider: str = "vertex",
    model: str = "veo-3.1-fast-generate-001",
    size: tuple[int, int] = (1280, 720),
    resolution: str = "720p",
    duration_s: float = 8.0,
    remote_uri: str | None = "gs://bucket/out/sample_0.mp4",
    **kw: Any,
) -> Job:
    saved = tmp_path / "saved.mp4"
    saved.write_bytes(b"the saved video")  # from_job trusts its own verified results; only existence matters
    fields: dict[str, Any] = {
        "id": "job_source",
        "state": JobState.SUCCEEDED,
        "provider": provider,
        "model": model,
        "request": {"prompt": "a boat", "resolution": resolution, "aspect_ratio": "16:9"},
        "fingerprint": "f",
        "idempotency_key": "k",
        "out_dir": str(tmp_path),
        "estimate_usd": 0.8,
        "operation_name": "op-123",
        "results": [
            VideoResult(
                index=0,
                path=str(saved),
                sha256="0" * 64,
                size_bytes=15,
                width=size[0],
                height=size[1],
                duration_s=duration_s,
                fps=24.0,
                video_codec="h264",
                audio_codec="aac",
                remote_uri=remote_uri,
            )
        ],
        "created_at": FINISHED - dt.timedelta(minutes=2),
        "updated_at": FINISHED,
        "finished_at": FINISHED,
    }
    return Job(**(fields | kw))


def test_the_providers_copy_is_used_while_it_is_kept_then_the_saved_file(tmp_path: Path) -> None:
    source = job(tmp_path)
    kept = from_job(source, CATALOG, now=WITHIN)
    assert kept.video.uri == "gs://bucket/out/sample_0.mp4" and kept.video.data is None
    assert (kept.aspect_ratio, kept.provider, kept.model) == ("16:9", "vertex", "veo-3.1-fast-generate-001")
    gone = from_job(source, CATALOG, now=AFTER)
    assert gone.video.uri is None and gone.video.data == b"the saved video"
    # Another provider never gets this one's URI: it cannot read it.
    elsewhere = from_job(source, CATALOG, now=WITHIN, provider="fal")
    assert elsewhere.video.data == b"the saved video" and elsewhere.provider == "fal"


def test_gemini_extends_only_what_it_still_holds(tmp_path: Path) -> None:
    source = job(tmp_path, provider="gemini", model="veo-3.1-fast-generate-preview", remote_uri="https://g/files/x")
    assert from_job(source, CATALOG, now=WITHIN).video.uri == "https://g/files/x"
    with pytest.raises(E.InvalidRequest, match="gemini extends only videos it still holds") as exc:
        from_job(source, CATALOG, now=AFTER, field="job_id")
    assert exc.value.field == "job_id" and exc.value.message.startswith("job_id:") and "2026-09-03" in exc.value.message
    with pytest.raises(E.InvalidRequest, match="it did not make it"):
        from_job(job(tmp_path), CATALOG, now=WITHIN, provider="gemini")


def test_kie_extends_its_own_tasks_by_id_and_nothing_else(tmp_path: Path) -> None:
    kie = job(tmp_path, provider="kie", model="veo3_fast", remote_uri="https://tempfile/x.mp4")
    assert from_job(kie, CATALOG, now=AFTER).video.uri == "kie-task://op-123"
    assert from_job(kie, CATALOG, now=AFTER, provider="vertex").video.data == b"the saved video"
    with pytest.raises(E.InvalidRequest, match="kie extends only videos it made; job job_source ran on vertex"):
        from_job(job(tmp_path), CATALOG, now=WITHIN, provider="kie")
    assert from_uri("kie-task://op-9").video.uri == "kie-task://op-9"


def test_omni_continues_its_own_interaction_at_the_sources_resolution(tmp_path: Path) -> None:
    omni = job(
        tmp_path, provider="omni", model="gemini-omni-1.2-flash", size=(640, 360), resolution="360p", duration_s=4
    )
    source = from_job(omni, CATALOG, now=AFTER)  # long after the Files API dropped the video: the reference lasts
    assert source.video.uri == "omni-interaction://op-123" and source.video.data is None
    assert (source.resolution, source.aspect_ratio, source.model) == ("360p", "16:9", "gemini-omni-1.2-flash")
    request = extension_request(source, prompt="on")
    assert (request.resolution, request.duration_seconds) == ("360p", 8)
    portrait = from_job(job(tmp_path, provider="omni", model="gemini-omni-1.2-flash", size=(2160, 3840)), CATALOG)
    assert portrait.aspect_ratio == "9:16"
    # Elsewhere the interaction means nothing: Vertex gets the saved file, and Veo's rules (720p only) apply.
    with pytest.raises(E.InvalidRequest, match="job_source is 360p"):
        from_job(omni.model_copy(update={"model": "gemini-omni-flash-preview"}), CATALOG, now=AFTER)
    moved = from_job(job(tmp_path, provider="omni", model="gemini-omni-1.2-flash"), CATALOG, provider="omni-vertex")
    assert moved.video.data == b"the saved video" and moved.resolution == "720p"


@pytest.mark.parametrize(
    ("overrides", "needle", "field"),
    [
        ({"state": JobState.RUNNING}, "is running; only a succeeded job's video can be extended", "video"),
        ({"size": (1920, 1080), "resolution": "1080p"}, "Veo extends only 720p videos", "video"),
    ],
)
def test_a_job_that_cannot_be_extended_is_refused_naming_the_field(
    tmp_path: Path, overrides: dict[str, Any], needle: str, field: str
) -> None:
    with pytest.raises(E.InvalidRequest, match=needle) as exc:
        from_job(job(tmp_path, **overrides), CATALOG, now=WITHIN)
    assert exc.value.field == field and exc.value.message.startswith(f"{field}:")
    with pytest.raises(E.InvalidRequest, match="out of range") as bad_index:
        from_job(job(tmp_path), CATALOG, index=1, now=WITHIN)
    assert bad_index.value.field == "video_index"


def test_a_video_must_be_no_longer_than_the_planned_model_extends(tmp_path: Path) -> None:
    """The limit is catalog data, per offer: 141 s on Veo 3.1, 8 s on fal."""
    veo = CATALOG.offer("vertex", "veo-3.1-fast-generate-001")
    fal = CATALOG.offer("fal", "fal-ai/veo3.1/fast")
    check_fits(from_job(job(tmp_path, duration_s=141.3), CATALOG, now=WITHIN), veo)  # container rounding
    long = from_job(job(tmp_path, duration_s=148.0), CATALOG, now=WITHIN, field="job_id")
    with pytest.raises(
        E.InvalidRequest, match="job_id: the video is 148 s; veo-3.1-fast-generate-001 on vertex"
    ) as exc:
        check_fits(long, veo)
    assert exc.value.field == "job_id" and exc.value.allowed == [141.0]
    eight = from_job(job(tmp_path, duration_s=8.0), CATALOG, now=WITHIN, provider="fal")
    check_fits(eight, fal)
    with pytest.raises(E.InvalidRequest, match="extends videos of at most 8 s"):
        check_fits(from_job(job(tmp_path, duration_s=15.0), CATALOG, now=WITHIN, provider="fal"), fal)
    check_fits(from_uri("gs://b/unknown-length.mp4"), fal)  # a URI's length is the provider's to check


def test_a_local_mp4_is_probed_before_anything_is_sent(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    render_mp4(RenderSpec(prompt="a boat", width=720, height=1280, duration_s=1.0), good)
    source = from_file(good)
    assert source.aspect_ratio == "9:16" and source.video.data == good.read_bytes()

    wide = tmp_path / "wide.mp4"
    render_mp4(RenderSpec(prompt="a boat", width=1920, height=1080, duration_s=1.0), wide)
    with pytest.raises(E.InvalidRequest, match="wide.mp4 is 1920x1080; Veo extends only 720p") as exc:
        from_file(wide)
    assert exc.value.field == "video"

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(E.InvalidRequest, match="broken.mp4 is not a complete MP4 video"):
        from_file(broken)
    with pytest.raises(E.InvalidRequest, match="video: no such file"):
        from_file(tmp_path / "missing.mp4")


def test_a_local_mp4_longer_than_veo_extends_is_refused(tmp_path: Path) -> None:
    long = tmp_path / "long.mp4"
    with av.open(str(long), "w", format="mp4") as c:  # 146 s at 1 fps: long, yet quick to write
        v = c.add_stream("libx264", rate=1)
        v.width, v.height, v.pix_fmt = 1280, 720, "yuv420p"
        for i in range(146):
            frame = av.VideoFrame.from_ndarray(np.full((1080, 1280), 90, dtype=np.uint8), format="yuv420p")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
    source = from_file(long)
    assert source.duration_s == pytest.approx(146, abs=1)
    with pytest.raises(E.InvalidRequest, match="video: the video is 146 s; .* extends videos of at most 141 s"):
        check_fits(source, CATALOG.offer("vertex", "veo-3.1-generate-001"))


def test_the_continuation_keeps_the_sources_aspect_and_model(tmp_path: Path) -> None:
    source = from_job(job(tmp_path, size=(720, 1280)), CATALOG, now=WITHIN)
    request = extension_request(source, prompt="more", aspect_ratio=None)
    assert (request.aspect_ratio, request.resolution, request.duration_seconds) == ("9:16", "720p", 8)
    assert request.model == "veo-3.1-fast-generate-001" and request.video == source.video
    assert extension_request(source, prompt="more", model="veo-3.1-generate-001").model == "veo-3.1-generate-001"
    with pytest.raises(E.InvalidRequest, match="the video to extend is 9:16") as exc:
        extension_request(source, prompt="more", aspect_ratio="16:9")
    assert exc.value.field == "aspect_ratio"


def test_job_ids_paths_and_uris_are_told_apart() -> None:
    assert extension.is_job_id("job_01abc")
    assert not extension.is_job_id("job_clip.mp4/../x") and not extension.is_job_id("clips/job_1.mp4")
    assert not extension.is_job_id("gs://job_1")
