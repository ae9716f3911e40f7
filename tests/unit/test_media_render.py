from __future__ import annotations

import hashlib
import io
import pathlib
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from veokit.emulator.render import RenderSpec, render_key, render_large_mp4, render_mp4
from veokit.media.probe import Expectation, first_frame_rgb, last_frame_rgb, probe_mp4, verify_mp4

W, H = 160, 90  # small frames for tests where the exact size is irrelevant


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _render(tmp_path: pathlib.Path, name: str = "out.mp4", **kw: object) -> pathlib.Path:
    fields: dict[str, object] = {"prompt": "a red fox in snow", "width": W, "height": H, "duration_s": 1.0}
    fields.update(kw)
    out = tmp_path / name
    render_mp4(RenderSpec(**fields), out)  # type: ignore[arg-type]
    return out


def _all_frames(path: pathlib.Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def _image_bytes(rgb: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _smooth_image(w: int, h: int, flip: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    r = xx * 255 // (w - 1)
    g = yy * 255 // (h - 1)
    b = np.full_like(xx, 60 if not flip else 220)
    img = np.stack([r, g, b], axis=-1).astype(np.uint8)
    return img[::-1, ::-1].copy() if flip else img


def _cover(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    fitted = ImageOps.fit(Image.fromarray(rgb), (w, h), Image.Resampling.LANCZOS)
    return np.asarray(fitted).astype(np.int16)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280)])
def test_exact_dimensions_720p(tmp_path: pathlib.Path, width: int, height: int) -> None:
    out = _render(tmp_path, width=width, height=height, duration_s=0.25)
    result = verify_mp4(out, Expectation(width=width, height=height))
    assert (result.width, result.height) == (width, height)
    assert first_frame_rgb(out).shape == (height, width, 3)


@pytest.mark.parametrize("seconds", [4, 6, 8])
def test_exact_duration_and_frame_count(tmp_path: pathlib.Path, seconds: int) -> None:
    out = _render(tmp_path, duration_s=float(seconds))
    result = probe_mp4(out)
    assert result.frames == seconds * 24
    assert result.fps == 24.0
    assert result.duration_s == pytest.approx(seconds, abs=1 / 24)
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.time_base == Fraction(1, 24) and v.duration == seconds * 24
        assert a.duration is not None and a.time_base is not None
        assert float(a.duration * a.time_base) == pytest.approx(seconds, abs=1 / 24)
        assert c.duration is not None and c.duration / av.time_base == pytest.approx(seconds, abs=1 / 24)
    verify_mp4(out, Expectation(duration_s=seconds, tolerance_s=1 / 24))


def test_audio_stream_is_stereo_48k_aac(tmp_path: pathlib.Path) -> None:
    out = _render(tmp_path, audio=True)
    assert probe_mp4(out).audio_codec == "aac"
    with av.open(str(out)) as c:
        (a,) = c.streams.audio
        assert a.codec_context.sample_rate == 48_000
        assert a.codec_context.channels == 2
        pcm = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)
    assert pcm.shape[0] == 2
    assert float(np.abs(pcm).max()) > 0.1  # an actual tone, not silence


def test_no_audio_stream_when_disabled(tmp_path: pathlib.Path) -> None:
    out = _render(tmp_path, audio=False)
    assert probe_mp4(out).audio_codec is None
    with av.open(str(out)) as c:
        assert len(c.streams) == 1 and not c.streams.audio


def test_same_spec_renders_byte_identical(tmp_path: pathlib.Path) -> None:
    a = _render(tmp_path, "a.mp4", seed=3, label="sample 1/2")
    b = _render(tmp_path, "b.mp4", seed=3, label="sample 1/2")
    assert _sha(a) == _sha(b)


@pytest.mark.parametrize("change", [{"prompt": "a blue whale"}, {"seed": 1}])
def test_prompt_or_seed_changes_output(tmp_path: pathlib.Path, change: dict[str, object]) -> None:
    base = _render(tmp_path, "base.mp4")
    other = _render(tmp_path, "other.mp4", **change)
    assert _sha(base) != _sha(other)
    # Visibly different content, not just different metadata.
    assert max(_mad(x, y) for x, y in zip(_all_frames(base), _all_frames(other), strict=True)) > 5


def test_frames_animate(tmp_path: pathlib.Path) -> None:
    frames = _all_frames(_render(tmp_path))
    assert all(_mad(frames[i], frames[i + 1]) > 0 for i in range(len(frames) - 1))


def test_render_key_is_stable_and_sensitive() -> None:
    spec = RenderSpec(prompt="p", width=W, height=H, duration_s=8, first_frame=b"img")
    assert render_key(spec) == render_key(RenderSpec(prompt="p", width=W, height=H, duration_s=8.0, first_frame=b"img"))
    assert len(render_key(spec)) == 64
    variants = [
        RenderSpec(prompt="q", width=W, height=H, duration_s=8, first_frame=b"img"),
        RenderSpec(prompt="p", width=W, height=H, duration_s=8, first_frame=b"img2"),
        RenderSpec(prompt="p", width=W, height=H, duration_s=8, first_frame=None, last_frame=b"img"),
        RenderSpec(prompt="p", width=W, height=H, duration_s=8, first_frame=b"img", seed=1),
        RenderSpec(prompt="p", width=W, height=H, duration_s=8, first_frame=b"img", audio=False),
        RenderSpec(prompt="p", width=H * 2, height=W, duration_s=8, first_frame=b"img"),
    ]
    keys = {render_key(v) for v in variants} | {render_key(spec)}
    assert len(keys) == len(variants) + 1


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_first_and_last_frame_are_the_given_images(tmp_path: pathlib.Path, fmt: str) -> None:
    # Both inputs have a different aspect from the output, exercising cover-scaling.
    first_img, last_img = _smooth_image(400, 300), _smooth_image(300, 400, flip=True)
    out = _render(
        tmp_path,
        first_frame=_image_bytes(first_img, fmt),
        last_frame=_image_bytes(last_img, fmt),
        width=320,
        height=180,
    )
    want_first, want_last = _cover(first_img, 320, 180), _cover(last_img, 320, 180)
    got_first, got_last = first_frame_rgb(out), last_frame_rgb(out)
    assert _mad(got_first, want_first) < 4
    assert _mad(got_last, want_last) < 4
    assert _mad(got_first, want_last) > 40  # the two inputs are clearly distinguishable
    middle = _all_frames(out)[12]
    assert _mad(middle, want_first) > 15 and _mad(middle, want_last) > 15


def test_first_frame_only_fades_into_generated_content(tmp_path: pathlib.Path) -> None:
    img = _smooth_image(320, 180)
    out = _render(tmp_path, first_frame=_image_bytes(img, "PNG"), width=320, height=180)
    plain = _all_frames(_render(tmp_path, "plain.mp4", width=320, height=180))
    frames = _all_frames(out)
    assert _mad(frames[0], img) < 4
    assert _mad(frames[-1], plain[-1]) < 4  # ends on the generated scene
    diffs = [_mad(f, img) for f in frames[:13]]
    assert diffs == sorted(diffs)  # monotonic crossfade away from the image


def test_bad_keyframe_image_fails_without_leaving_files(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="keyframe image"):
        _render(tmp_path, first_frame=b"not an image")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_leaves_only_the_output(tmp_path: pathlib.Path) -> None:
    out = _render(tmp_path / "nested")
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]


@pytest.mark.parametrize("kw", [{"width": 321}, {"height": 8}, {"duration_s": 0.0}, {"duration_s": 0.01}, {"fps": 0}])
def test_invalid_specs_rejected(kw: dict[str, object]) -> None:
    fields: dict[str, object] = {"prompt": "p", "width": W, "height": H, "duration_s": 1.0, **kw}
    with pytest.raises(ValueError):
        RenderSpec(**fields)  # type: ignore[arg-type]


def test_noise_mode_is_large_and_valid(tmp_path: pathlib.Path) -> None:
    out = _render(tmp_path, noise=True, audio=False, duration_s=0.5)
    result = verify_mp4(out, Expectation(width=W, height=H, duration_s=0.5, audio=False))
    assert result.frames == 12
    # Incompressible: close to (or above) the raw 4:2:0 size per frame.
    assert result.size_bytes > 12 * W * H * 1.5 * 0.9


def test_render_large_mp4_exceeds_min_bytes(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "big.mp4"
    size = render_large_mp4(out, 5_000_000)
    assert size == out.stat().st_size >= 5_000_000
    verify_mp4(out, Expectation(width=1920, height=1080, audio=False))
    assert [p.name for p in tmp_path.iterdir()] == ["big.mp4"]


def test_render_large_mp4_stops_soon_after_min_bytes(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "big.mp4"
    size = render_large_mp4(out, 5_000_000, width=640, height=360, seed=7)
    result = verify_mp4(out, Expectation(width=640, height=360, audio=False))
    assert result.frames is not None and result.frames > 2
    per_frame = size / result.frames
    assert 5_000_000 <= size < 5_000_000 + 2 * per_frame


def test_container_has_no_creation_time(tmp_path: pathlib.Path) -> None:
    data = _render(tmp_path).read_bytes()
    mvhd = data.index(b"mvhd")
    assert data[mvhd + 4] == 0  # version 0: 32-bit times follow the flags
    assert data[mvhd + 8 : mvhd + 16] == bytes(8)  # creation and modification time
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert "creation_time" not in c.metadata
