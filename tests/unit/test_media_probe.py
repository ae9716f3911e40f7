from __future__ import annotations

import io
import os
import pathlib
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from veokit.emulator.render import RenderSpec, render_mp4
from veokit.media.probe import (
    CorruptMediaError,
    Expectation,
    ProbeResult,
    first_frame_rgb,
    last_frame_rgb,
    probe_mp4,
    verify_mp4,
)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """2 s, 320x180, with audio: two GOPs, so the last frame is not in the first GOP."""
    out = tmp_path_factory.mktemp("probe") / "good.mp4"
    render_mp4(RenderSpec(prompt="a lighthouse at night", width=320, height=180, duration_s=2.0), out)
    return out


def _truncate(src: pathlib.Path, dst: pathlib.Path, fraction: float) -> pathlib.Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _write_plain_mp4(path: pathlib.Path, *, video: bool = True, audio: bool = False) -> None:
    """An MP4 written without faststart (moov at the end), unlike our renderer's output."""
    with av.open(str(path), "w", format="mp4") as c:
        if video:
            v = c.add_stream("libx264", rate=24)
            v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        if audio:
            a = c.add_stream("aac", rate=48_000, layout="stereo")
        for i in range(24):
            if video:
                frame = av.VideoFrame.from_ndarray(np.full((96, 64), i * 8, dtype=np.uint8), format="yuv420p")
                frame.pts = i
                c.mux(v.encode(frame))
            if audio:
                pcm = np.zeros((2, 2000), dtype=np.float32)
                af = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48_000, i * 2000, Fraction(1, 48_000)
                c.mux(a.encode(af))
        if video:
            c.mux(v.encode(None))
        if audio:
            c.mux(a.encode(None))


def test_probe_reports_stream_facts(video: pathlib.Path) -> None:
    result = probe_mp4(video)
    assert result == ProbeResult(
        container=result.container,
        duration_s=2.0,
        width=320,
        height=180,
        fps=24.0,
        video_codec="h264",
        audio_codec="aac",
        size_bytes=video.stat().st_size,
        frames=48,
    )
    assert "mp4" in result.container.split(",")


def test_first_and_last_frame_match_a_full_decode(video: pathlib.Path) -> None:
    with av.open(str(video)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    first, last = first_frame_rgb(video), last_frame_rgb(video)
    assert first.dtype == np.uint8 and first.shape == (180, 320, 3)
    np.testing.assert_array_equal(first, decoded[0])
    np.testing.assert_array_equal(last, decoded[-1])
    assert not np.array_equal(last, decoded[-2])


def test_non_faststart_mp4_is_accepted(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "plain.mp4"
    _write_plain_mp4(path, audio=True)
    result = probe_mp4(path)
    assert (result.width, result.height, result.frames, result.audio_codec) == (64, 64, 24, "aac")


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95, 0.999])
def test_truncated_faststart_file_rejected(video: pathlib.Path, tmp_path: pathlib.Path, fraction: float) -> None:
    # moov is at the front, so these still open: only missing sample data gives them away.
    cut = _truncate(video, tmp_path / "cut.mp4", fraction)
    with av.open(str(cut)) as c:
        assert c.streams.video[0].frames == 48
    with pytest.raises(CorruptMediaError, match="truncated"):
        probe_mp4(cut)
    with pytest.raises(CorruptMediaError):
        last_frame_rgb(cut)


def test_file_cut_on_a_sample_boundary_rejected(video: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # Every remaining sample is whole, so only the moov sample count reveals the cut.
    with av.open(str(video)) as c:
        positions = [p.pos for p in c.demux(video=0) if p.size and p.pos is not None]
    cut = tmp_path / "boundary.mp4"
    cut.write_bytes(video.read_bytes()[: positions[40]])
    with pytest.raises(CorruptMediaError, match="truncated: track"):
        probe_mp4(cut)


def test_file_cut_right_after_moov_rejected(video: pathlib.Path, tmp_path: pathlib.Path) -> None:
    data = video.read_bytes()
    mdat = data.index(b"mdat")
    cut = tmp_path / "header-only.mp4"
    cut.write_bytes(data[: mdat + 4])
    with pytest.raises(CorruptMediaError):
        probe_mp4(cut)


def test_truncated_file_without_moov_rejected(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "plain.mp4"
    _write_plain_mp4(path)
    cut = _truncate(path, tmp_path / "cut.mp4", 0.6)
    with pytest.raises(CorruptMediaError):
        probe_mp4(cut)


@pytest.mark.parametrize("kind", ["empty", "random", "png", "text", "missing"])
def test_non_mp4_inputs_rejected(tmp_path: pathlib.Path, kind: str) -> None:
    path = tmp_path / "x.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    elif kind == "png":
        buf = io.BytesIO()
        Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "PNG")
        path.write_bytes(buf.getvalue())
    elif kind == "text":
        path.write_text('{"error": "quota exceeded"}')
    with pytest.raises(CorruptMediaError) as info:
        probe_mp4(path)
    assert str(path) in str(info.value)
    assert info.value.path == path


def test_png_reports_detected_format(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "x.mp4"
    Image.new("RGB", (32, 32)).save(path, "PNG")
    with pytest.raises(CorruptMediaError, match="not an MP4"):
        probe_mp4(path)


def test_audio_only_mp4_rejected(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "audio.mp4"
    _write_plain_mp4(path, video=False, audio=True)
    with pytest.raises(CorruptMediaError, match="no video stream"):
        probe_mp4(path)


def test_verify_passes_matching_expectation(video: pathlib.Path) -> None:
    result = verify_mp4(video, Expectation(width=320, height=180, duration_s=2.2, audio=True))
    assert result.duration_s == 2.0
    assert verify_mp4(video) == result


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        (Expectation(width=1280, height=720), "expected 1280x720, got 320x180"),
        (Expectation(height=360), "expected *x360, got 320x180"),
        (Expectation(duration_s=8), "duration 2.0 s, expected 8 s"),
        (Expectation(duration_s=2.5, tolerance_s=0.25), "duration 2.0 s, expected 2.5 s"),
        (Expectation(audio=False), "expected no audio, found aac"),
    ],
)
def test_verify_names_the_mismatch(video: pathlib.Path, expect: Expectation, message: str) -> None:
    with pytest.raises(CorruptMediaError) as info:
        verify_mp4(video, expect)
    assert message in str(info.value)
    assert info.value.reason == message


def test_verify_missing_audio(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "silent.mp4"
    render_mp4(RenderSpec(prompt="p", width=64, height=36, duration_s=0.5, audio=False), path)
    with pytest.raises(CorruptMediaError, match="expected audio, found none"):
        verify_mp4(path, Expectation(audio=True))


def test_verify_reports_every_mismatch(video: pathlib.Path) -> None:
    with pytest.raises(CorruptMediaError) as info:
        verify_mp4(video, Expectation(width=640, height=360, duration_s=8, audio=False))
    reason = info.value.reason
    for part in ("expected 640x360, got 320x180", "duration 2.0 s, expected 8 s", "expected no audio, found aac"):
        assert part in reason


def test_corrupt_media_error_is_an_exception() -> None:
    err = CorruptMediaError(os.path.join("a", "b.mp4"), "bad")
    assert isinstance(err, Exception)
    assert str(err) == f"{os.path.join('a', 'b.mp4')}: bad"
