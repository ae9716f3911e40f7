"""Production media code for films, on real MP4s from the emulator's renderer: frames, stitching, the
OpenTimelineIO export and the contact sheet. Frames are compared decoded, within a tolerance, never by name."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import pathlib
import re

import av
import numpy as np
import numpy.typing as npt
import opentimelineio as otio
import pytest
from PIL import Image

from veokit.emulator.render import RenderSpec, render_mp4
from veokit.media.contact_sheet import contact_sheet_html, contact_sheet_png, sheet_from_plan
from veokit.media.frames import first_frame_png, frame_at_rgb, last_frame_png
from veokit.media.probe import first_frame_rgb, last_frame_rgb, probe_mp4
from veokit.media.stitch import Clip, film_duration_s, stitch
from veokit.media.timeline import film_timeline, write_timeline
from veokit.models.catalog import default_catalog
from veokit.models.film_plan import VEO_FPS, FilmPlan, PlanContext, plan_film
from veokit.models.storyboard import Storyboard, load_storyboard

W, H = 192, 108
RATE = 48_000
EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "last-train.yaml"
Frames = list[npt.NDArray[np.int16]]


def _render(tmp: pathlib.Path, name: str, seconds: float, prompt: str = "a", **kw: object) -> pathlib.Path:
    out = tmp / name
    spec: dict[str, object] = {"prompt": prompt, "width": W, "height": H, "duration_s": seconds, **kw}
    render_mp4(RenderSpec(**spec), out)  # type: ignore[arg-type]
    return out


def _frames(path: pathlib.Path) -> Frames:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def _pcm(path: pathlib.Path) -> npt.NDArray[np.float32]:
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        chunks = [r.to_ndarray() for f in c.decode(audio=0) for r in resampler.resample(f)]
        chunks += [r.to_ndarray() for r in resampler.resample(None)]
    return np.concatenate(chunks, axis=1).astype(np.float32)


def _mad(a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _rms(pcm: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))


def _corr(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    n = min(a.shape[-1], b.shape[-1])
    return float(np.corrcoef(a[0, :n], b[0, :n])[0, 1])


def _pts_steps(path: pathlib.Path) -> set[int]:
    with av.open(str(path)) as c:
        pts = sorted(p.pts for p in c.demux(video=0) if p.pts is not None)
    return {b - a for a, b in itertools.pairwise(pts)}


# -- frames ------------------------------------------------------------------------------------------------------
def test_the_last_frame_is_the_last_one_shown_not_the_last_keyframe(tmp_path: pathlib.Path) -> None:
    clip = _render(tmp_path, "a.mp4", 2.0)  # one keyframe per second: frames 0 and 24
    frames = _frames(clip)
    assert len(frames) == 48
    last = np.asarray(Image.open(io.BytesIO(last_frame_png(clip))).convert("RGB"))
    assert _mad(last, frames[-1]) == 0  # lossless, and the very frame the decoder shows last
    assert _mad(last, frames[24]) > 1
    assert _mad(np.asarray(Image.open(io.BytesIO(first_frame_png(clip)))), frames[0]) == 0
    assert _mad(frame_at_rgb(clip, 1.0), frames[24]) == 0
    assert _mad(frame_at_rgb(clip, 1.5), frames[36]) == 0
    assert _mad(frame_at_rgb(clip, 99), frames[-1]) == 0


# -- stitching ---------------------------------------------------------------------------------------------------
def test_cuts_keep_every_frame_at_one_rate_with_sound_throughout(tmp_path: pathlib.Path) -> None:
    a = _render(tmp_path, "a.mp4", 2.0, "first")
    b = _render(tmp_path, "b.mp4", 1.0, "second", fps=30, width=320, height=180)  # other rate and size
    c = _render(tmp_path, "c.mp4", 1.0, "third", audio=False)
    out = tmp_path / "film.mp4"
    result = stitch([Clip(a), Clip(b), Clip(c)], out, size=(W, H))
    assert (result.width, result.height, result.fps, result.frames) == (W, H, 24.0, 48 + 24 + 24)
    assert result.duration_s == pytest.approx(4.0, abs=1e-6)
    assert _pts_steps(out) == {1}  # constant frame rate
    with av.open(str(out)) as f:
        assert f.streams.audio[0].codec_context.sample_rate == RATE
    film = _frames(out)
    assert _mad(film[10], _frames(a)[10]) < 4
    b_half = np.asarray(Image.fromarray(frame_at_rgb(b, 0.5)).resize((W, H), Image.Resampling.BILINEAR))
    assert _mad(film[48 + 12], b_half) < 8
    pcm = _pcm(out)
    assert 4.0 * RATE <= pcm.shape[1] <= 4.0 * RATE + 2048  # audio as long as the pictures (AAC pads a frame)
    assert _rms(pcm[:, int(3.05 * RATE) : int(3.95 * RATE)]) < 1e-3  # the silent clip stays silent
    assert _rms(pcm[:, int(0.1 * RATE) : int(1.9 * RATE)]) > 0.05
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_last_frame_continuation_starts_on_the_previous_last_frame(tmp_path: pathlib.Path) -> None:
    a = _render(tmp_path, "a.mp4", 2.0, "before")
    b = _render(tmp_path, "b.mp4", 2.0, "after", first_frame=last_frame_png(a))
    assert _mad(first_frame_rgb(b), last_frame_rgb(a)) < 3
    out = tmp_path / "film.mp4"
    result = stitch([Clip(a), Clip(b, start_s=1 / 24)], out)  # the repeated frame is shown once
    assert result.frames == 95
    film, frames_b = _frames(out), _frames(b)
    assert _mad(film[47], last_frame_rgb(a)) < 3
    assert _mad(film[48], frames_b[1]) < 3 and _mad(film[48], frames_b[0]) > _mad(film[48], frames_b[1])


def test_a_crossfade_blends_pictures_and_sound_over_its_length(tmp_path: pathlib.Path) -> None:
    a = _render(tmp_path, "a.mp4", 2.0, "dawn")
    b = _render(tmp_path, "b.mp4", 2.0, "dusk")
    out = tmp_path / "film.mp4"
    clips = [Clip(a), Clip(b, crossfade_s=0.5)]
    result = stitch(clips, out)
    assert result.frames == 96 - 12 and film_duration_s(clips) == pytest.approx(3.5)
    film, fa, fb = _frames(out), _frames(a), _frames(b)
    k = 5  # the sixth frame of the 12-frame overlap
    weight = round(256 * (k + 1) / 13) / 256
    expected = fa[36 + k] * (1 - weight) + fb[k] * weight
    assert _mad(film[36 + k], expected) < 4
    assert _mad(film[36 + k], fa[36 + k]) > 8 and _mad(film[36 + k], fb[k]) > 8
    pcm = _pcm(out)
    inside = _rms(pcm[:, int(1.55 * RATE) : int(1.95 * RATE)])
    outside = _rms(pcm[:, int(0.5 * RATE) : int(1.4 * RATE)])
    assert 0.5 * outside < inside < 1.5 * outside  # equal power: no dip, no doubling


def test_sound_follows_its_pictures_and_a_continuous_join_has_no_seam(tmp_path: pathlib.Path) -> None:
    x = _render(tmp_path, "x.mp4", 2.0, "one long take")
    y = _render(tmp_path, "y.mp4", 1.0, "another")
    out = tmp_path / "film.mp4"
    result = stitch([Clip(x, 0, 1.0), Clip(x, 1.0, 2.0), Clip(y)], out)  # the first two are one read
    assert result.frames == 72
    film, source = _pcm(out), _pcm(x)
    assert _corr(film[:, : 2 * RATE], source[:, : 2 * RATE]) > 0.97
    assert _corr(film[:, 2 * RATE + 480 : 3 * RATE - 480], _pcm(y)[:, 480 : RATE - 480]) > 0.97
    seam = _rms(film[:, RATE - 240 : RATE + 240])
    assert seam > 0.7 * _rms(source[:, RATE - 240 : RATE + 240])  # no fade where the take continues
    cut = film[:, 2 * RATE - 24 : 2 * RATE + 24]
    assert _rms(cut) < 0.5 * _rms(film[:, 2 * RATE - 4800 : 2 * RATE - 2400])  # a hard cut fades a few ms


@pytest.mark.parametrize(
    ("clips", "message"),
    [
        (lambda a, b: [Clip(a), Clip(b, crossfade_s=1.5)], "crossfade is longer than a clip"),
        (lambda a, b: [Clip(a, crossfade_s=0.5)], "nothing to crossfade from"),
        (lambda a, b: [Clip(a, 0.5, 9.0)], "is outside its 1 s"),
        (lambda a, b: [Clip(a), Clip(b)], "another aspect ratio"),
        (lambda a, b: [], "nothing to stitch"),
    ],
)
def test_impossible_edits_are_refused_and_leave_nothing(tmp_path: pathlib.Path, clips: object, message: str) -> None:
    a = _render(tmp_path, "a.mp4", 1.0)
    b = _render(tmp_path, "b.mp4", 1.0, width=108, height=192)
    with pytest.raises(ValueError, match=message):
        stitch(clips(a, b), tmp_path / "film.mp4")  # type: ignore[operator]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]


# -- the example film, end to end --------------------------------------------------------------------------------
def _extend(tmp: pathlib.Path, name: str, source: pathlib.Path, seconds: int, prompt: str) -> pathlib.Path:
    """What a Veo extension returns: the input video followed by ``seconds`` more that start where it ends."""
    new = _render(tmp, f"{name}.part.mp4", seconds + 1 / 24, prompt, first_frame=last_frame_png(source))
    out = tmp / f"{name}.mp4"
    stitch([Clip(source), Clip(new, start_s=1 / 24)], out)
    return out


def _shoot(tmp: pathlib.Path, plan: FilmPlan) -> dict[str, pathlib.Path]:
    """Each shot's chosen take, made the way the provider would make it (small, through the renderer)."""
    videos: dict[str, pathlib.Path] = {}
    for shot_id in plan.order:
        s = plan.shot(shot_id)
        if s.upstream is None:
            videos[s.id] = _render(tmp, f"{s.id}.mp4", s.seconds, s.prompt, seed=s.chosen.request.seed or 0)
        elif s.upstream.kind == "last_frame":
            frame = last_frame_png(videos[s.upstream.shot])
            videos[s.id] = _render(tmp, f"{s.id}.mp4", s.seconds, s.prompt, first_frame=frame)
        else:
            videos[s.id] = _extend(tmp, s.id, videos[s.upstream.shot], s.seconds, s.prompt)
    return videos


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Storyboard, FilmPlan, dict[str, pathlib.Path]]:
    board = load_storyboard(EXAMPLE)
    plan = plan_film(board, PlanContext(default_catalog(), "vertex", today=dt.date(2026, 10, 1)))
    return board, plan, _shoot(tmp_path_factory.mktemp("shots"), plan)


def test_the_example_stitches_to_its_planned_length(
    example: tuple[Storyboard, FilmPlan, dict[str, pathlib.Path]], tmp_path: pathlib.Path
) -> None:
    _, plan, videos = example
    durations = {sid: probe_mp4(path).duration_s for sid, path in videos.items()}
    assert durations["doors"] == pytest.approx(13.0)  # "closeup" (6 s) and the 7 s it was extended by
    cuts = plan.edit(durations)
    out = tmp_path / "film.mp4"
    result = stitch([Clip(videos[c.source], c.start_s, c.end_s, c.crossfade_s) for c in cuts], out)
    assert result.duration_s == pytest.approx(plan.film_seconds, abs=0.5 / VEO_FPS)
    assert result.frames == round(plan.film_seconds * VEO_FPS)
    assert result.audio_codec == "aac" and _pts_steps(out) == {1}
    film = _frames(out)
    join = 8 * VEO_FPS  # "closeup" starts on the last frame of "platform", which is shown once
    assert _mad(first_frame_rgb(videos["closeup"]), last_frame_rgb(videos["platform"])) < 3
    assert _mad(film[join - 1], last_frame_rgb(videos["platform"])) < 4
    assert _mad(film[join], _frames(videos["closeup"])[1]) < 4
    # "doors" continues "closeup" without a seam: both are read from the extended video in one go.
    doors = _frames(videos["doors"])
    assert _mad(film[join + 6 * VEO_FPS - 1], doors[6 * VEO_FPS]) < 4


def test_the_example_as_an_opentimelineio_timeline(
    example: tuple[Storyboard, FilmPlan, dict[str, pathlib.Path]], tmp_path: pathlib.Path
) -> None:
    _, plan, videos = example
    timeline = film_timeline(plan, videos, relative_to=tmp_path)
    path = tmp_path / "film.otio"
    write_timeline(timeline, path)
    again = otio.adapters.read_from_file(str(path))
    video, audio = again.tracks
    assert (video.kind, audio.kind) == (otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio)
    clips = [item for item in video if isinstance(item, otio.schema.Clip)]
    assert [c.name for c in clips] == ["platform", "closeup", "doors", "departure"]
    assert video.duration().to_seconds() == pytest.approx(plan.film_seconds, abs=1e-6)
    assert audio.duration().to_seconds() == pytest.approx(plan.film_seconds, abs=1e-6)
    (dissolve,) = [item for item in video if isinstance(item, otio.schema.Transition)]
    assert dissolve.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    assert (dissolve.in_offset + dissolve.out_offset).to_seconds() == pytest.approx(0.5)
    closeup, doors = clips[1], clips[2]
    assert closeup.media_reference.target_url == doors.media_reference.target_url  # one extended video
    assert (tmp_path / closeup.media_reference.target_url).resolve() == videos["doors"].resolve()
    assert closeup.source_range.start_time.to_seconds() == pytest.approx(1 / 24)
    assert doors.source_range.start_time.to_seconds() == pytest.approx(6.0)
    assert closeup.metadata["veokit"]["address"] == plan.shot("closeup").chosen.address


def test_the_example_contact_sheet(
    example: tuple[Storyboard, FilmPlan, dict[str, pathlib.Path]], tmp_path: pathlib.Path
) -> None:
    board, plan, videos = example
    rows = sheet_from_plan(plan, board, {(sid, 1): path for sid, path in videos.items()})
    png = tmp_path / "sheet.png"
    contact_sheet_png(rows, png, title=plan.title)
    with Image.open(png) as sheet:
        assert sheet.format == "PNG"
        assert sheet.width > 2 * 320 and sheet.height > 4 * 180  # two takes wide, four shots high
    page = tmp_path / "sheet" / "index.html"
    contact_sheet_html(rows, page, title=plan.title, total_usd=plan.total_usd, film=videos["departure"])
    text = page.read_text()
    assert "<h1>The Last Train</h1>" in text and "$3.80" in text
    assert "Tom says: &quot;Madam, the last train left ten minutes ago.&quot;" in text
    assert "[00:01] Tom: Madam, the last train left ten minutes ago." in text
    assert text.count("data:image/jpeg;base64,") == 4  # one poster per rendered take, inside the page
    assert "not rendered" in text  # the platform's second take
    for src in re.findall(r'src="([^"]+)"', text):
        assert (page.parent / src).is_file()
