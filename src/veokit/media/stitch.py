"""One MP4 from a list of clips: cuts or crossfades, constant frame rate and sample rate, flat memory.

Every clip is decoded and the film re-encoded once (H.264 + AAC): a crossfade needs decoded pictures anyway, and
clips from different requests do not share encoder settings, so stream copying would only work sometimes.
Decoding streams: each clip is read front to back (seeking once to its start), and only during a crossfade are
two clips open at once, so memory does not grow with the film's length.

Timing is counted in output frames. A clip of ``(end - start)`` seconds contributes ``round(seconds * fps)``
frames, each showing the source frame on screen at that instant (so any input rate comes out at ``fps``), and a
crossfade of ``d`` seconds overlaps ``round(d * fps)`` frames of the two clips. Audio follows the pictures sample
for sample: every clip's sound is resampled to ``sample_rate`` stereo, cut or padded with silence to exactly its
frames' length, and crossfaded over the same span with equal-power curves; hard cuts get a 5 ms fade on each side
so they do not click. Adjacent clips that continue each other (same file, one ending where the next begins, no
crossfade) are read as one, which is how an extension chain plays (see :mod:`veokit.models.film_plan`).

The result is verified with :func:`veokit.media.probe.verify_mp4` before it replaces ``out``.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import uuid
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from veokit.media.probe import CorruptMediaError, Expectation, ProbeResult, StrPath, probe_mp4, verify_mp4

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

_CHUNK = 1024  # AAC frame size
_BT709 = 1
_CLICK_FADE_S = 0.005


@dataclass(frozen=True)
class Clip:
    """``path`` from ``start_s`` to ``end_s`` (None: its end), faded in over ``crossfade_s`` from the clip before."""

    path: pathlib.Path
    start_s: float = 0.0
    end_s: float | None = None
    crossfade_s: float = 0.0


@dataclass(frozen=True)
class _Part:
    clip: Clip
    info: ProbeResult
    frames: int
    overlap: int  # frames shared with the part before (crossfade)


def stitch(
    clips: Sequence[Clip],
    out: StrPath,
    *,
    fps: int = 24,
    sample_rate: int = 48_000,
    size: tuple[int, int] | None = None,
    crf: int = 18,
    preset: str = "veryfast",
) -> ProbeResult:
    """Join ``clips`` into ``out`` and return its verified probe. ``size`` defaults to the largest clip's."""
    parts = _plan(clips, fps)
    width, height = size or max(((p.info.width, p.info.height) for p in parts), key=lambda wh: wh[0] * wh[1])
    if width % 2 or height % 2:
        raise ValueError(f"size must be even, got {width}x{height}")
    for p in parts:
        if abs(p.info.width / p.info.height - width / height) > 0.01:
            raise ValueError(
                f"{p.clip.path.name} is {p.info.width}x{p.info.height}: another aspect ratio than the film"
            )
    audio = any(p.info.audio_codec for p in parts)
    total = sum(p.frames - p.overlap for p in parts)
    target = pathlib.Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with _Writer(tmp, fps, sample_rate, width, height, audio, crf, preset) as w:
            sound = _film_audio(parts, fps, sample_rate) if audio else None
            for i, yuv in enumerate(_film_video(parts, fps, width, height)):
                w.video(yuv)
                if sound is not None:
                    w.audio_until((i + 1) * sample_rate // fps, sound)
        result = verify_mp4(
            tmp, Expectation(width=width, height=height, duration_s=total / fps, audio=audio, tolerance_s=1.5 / fps)
        )
        if result.frames != total or round(result.fps) != fps:
            raise CorruptMediaError(
                target, f"stitched {result.frames} frames at {result.fps:g} fps, not {total} at {fps}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return replace(result, size_bytes=target.stat().st_size)


def _plan(clips: Sequence[Clip], fps: int) -> list[_Part]:
    if not clips:
        raise ValueError("nothing to stitch")
    merged: list[Clip] = []
    for clip in clips:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and clip.crossfade_s == 0
            and pathlib.Path(clip.path) == pathlib.Path(prev.path)
            and prev.end_s is not None
            and abs(clip.start_s - prev.end_s) < 1e-6
        ):
            merged[-1] = replace(prev, end_s=clip.end_s)  # one continuous read, no seam
        else:
            merged.append(clip)
    parts: list[_Part] = []
    for i, clip in enumerate(merged):
        info = probe_mp4(clip.path)
        end = info.duration_s if clip.end_s is None else clip.end_s
        if not 0 <= clip.start_s < end or end > info.duration_s + 0.5 / fps:
            raise ValueError(
                f"{pathlib.Path(clip.path).name}: {clip.start_s:g}-{end:g} s is outside its {info.duration_s:g} s"
            )
        frames = round((end - clip.start_s) * fps)
        overlap = round(clip.crossfade_s * fps)
        if i == 0 and overlap:
            raise ValueError("the first clip has nothing to crossfade from")
        if parts and overlap > min(frames, parts[-1].frames - parts[-1].overlap):
            raise ValueError(
                f"{pathlib.Path(clip.path).name}: a {clip.crossfade_s:g} s crossfade is longer than a clip"
            )
        parts.append(_Part(replace(clip, end_s=end), info, frames, overlap))
    return parts


# -- video -------------------------------------------------------------------------------------------------------
def _film_video(parts: list[_Part], fps: int, width: int, height: int) -> Iterator[U8]:
    current = _clip_frames(parts[0], fps, width, height)
    left = parts[0].frames
    for nxt in parts[1:]:
        for _ in range(left - nxt.overlap):
            yield next(current)
        incoming = _clip_frames(nxt, fps, width, height)
        for k in range(nxt.overlap):
            weight = round(256 * (k + 1) / (nxt.overlap + 1))
            a, b = next(current), next(incoming)
            yield ((a.astype(np.uint16) * (256 - weight) + b.astype(np.uint16) * weight + 128) >> 8).astype(np.uint8)
        current.close()
        current, left = incoming, nxt.frames - nxt.overlap
    for _ in range(left):
        yield next(current)
    current.close()


def _clip_frames(part: _Part, fps: int, width: int, height: int) -> Generator[U8, None, None]:
    """Exactly ``part.frames`` yuv420p pictures: the source frame on screen at each output instant."""
    clip = part.clip
    eps = 1 / (4 * fps)
    with _opened(clip.path) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        tb = v.time_base or Fraction(1, fps)
        if clip.start_s > 0:
            c.seek(int(clip.start_s / tb), stream=v, backward=True)
        decoded = c.decode(v)
        upcoming: av.VideoFrame | None = next(decoded, None)
        held: av.VideoFrame | None = None
        picture: U8 | None = None
        for k in range(part.frames):
            t = clip.start_s + k / fps + eps
            changed = False
            while upcoming is not None and (upcoming.pts is None or float(upcoming.pts * tb) <= t):
                held, upcoming, changed = upcoming, next(decoded, None), True
            if held is None:  # the stream starts a little late: show its first picture
                held, upcoming, changed = upcoming, next(decoded, None), True
            if held is None:
                raise CorruptMediaError(clip.path, "no decodable video frame")
            if changed or picture is None:
                frame = held.reformat(width=width, height=height, format="yuv420p")
                picture = np.asarray(frame.to_ndarray(), dtype=np.uint8)
            yield picture


# -- audio -------------------------------------------------------------------------------------------------------
class _Samples:
    """Read exactly n samples at a time from a generator of (2, k) chunks."""

    def __init__(self, chunks: Iterator[F32]) -> None:
        self._chunks = chunks
        self._buf = np.zeros((2, 0), dtype=np.float32)

    def read(self, n: int) -> F32:
        while self._buf.shape[1] < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise RuntimeError("audio ran out before its pictures")  # _clip_audio pads, so this is a bug
            self._buf = np.concatenate([self._buf, chunk], axis=1)
        out, self._buf = self._buf[:, :n], self._buf[:, n:]
        return out

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def _film_audio(parts: list[_Part], fps: int, rate: int) -> Iterator[F32]:
    def samples(frames: int) -> int:
        return frames * rate // fps if (rate % fps == 0) else round(frames * rate / fps)

    def chunked(reader: _Samples, n: int) -> Iterator[F32]:
        while n > 0:
            take = min(n, 8192)
            yield reader.read(take)
            n -= take

    fade = round(_CLICK_FADE_S * rate)
    current = _Samples(_clip_audio(parts[0], samples(parts[0].frames), rate))
    left = samples(parts[0].frames)
    for nxt in parts[1:]:
        overlap = samples(nxt.overlap)
        if overlap == 0:  # a hard cut: both sides fade for a few ms, so the cut does not click
            yield from chunked(current, left - fade)
            yield current.read(fade) * np.linspace(1, 0, fade, dtype=np.float32)
        else:
            yield from chunked(current, left - overlap)
        n = samples(nxt.frames)
        incoming = _Samples(_clip_audio(nxt, n, rate))
        if overlap:
            theta = (np.arange(1, overlap + 1, dtype=np.float32) / (overlap + 1)) * (np.pi / 2)
            yield current.read(overlap) * np.cos(theta) + incoming.read(overlap) * np.sin(theta)
        else:
            yield incoming.read(fade) * np.linspace(0, 1, fade, dtype=np.float32)
        current.close()
        current, left = incoming, n - overlap - (0 if overlap else fade)
    yield from chunked(current, left)
    current.close()


def _clip_audio(part: _Part, total: int, rate: int) -> Iterator[F32]:
    """Exactly ``total`` samples of the clip's sound (silence if it has none), stereo float32 at ``rate``."""
    emitted = 0
    if part.info.audio_codec is not None:
        clip = part.clip
        with _opened(clip.path) as c:
            a = c.streams.audio[0]
            tb = a.time_base or Fraction(1, rate)
            if clip.start_s > 0:
                c.seek(int(clip.start_s / tb), stream=a, backward=True)
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
            skip: int | None = None
            for frame in c.decode(a):
                if skip is None:
                    began = float(frame.pts * tb) if frame.pts is not None else clip.start_s
                    skip = max(0, round((clip.start_s - began) * rate))
                for out in resampler.resample(frame):
                    pcm = _stereo(out)
                    if skip:
                        dropped = min(skip, pcm.shape[1])
                        pcm, skip = pcm[:, dropped:], skip - dropped
                    pcm = pcm[:, : total - emitted]
                    if pcm.shape[1]:
                        emitted += pcm.shape[1]
                        yield pcm
                if emitted >= total:
                    break
    while emitted < total:  # silence for a silent clip, or where its sound stops short
        n = min(total - emitted, 8192)
        emitted += n
        yield np.zeros((2, n), dtype=np.float32)


def _stereo(frame: av.AudioFrame) -> F32:
    pcm = frame.to_ndarray().astype(np.float32, copy=False)
    return pcm if pcm.shape[0] == 2 else np.repeat(pcm[:1], 2, axis=0)


# -- output ------------------------------------------------------------------------------------------------------
class _Writer:
    def __init__(
        self, path: pathlib.Path, fps: int, rate: int, width: int, height: int, audio: bool, crf: int, preset: str
    ) -> None:
        self._fps, self._rate = fps, rate
        options = {"movflags": "+faststart", "video_track_timescale": str(fps)}
        self._c = av.open(str(path), "w", format="mp4", container_options=options)
        v = self._c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.time_base = Fraction(1, fps)
        cc = v.codec_context
        cc.color_primaries = cc.color_trc = cc.colorspace = _BT709
        v.options = {"crf": str(crf), "preset": preset, "x264-params": f"keyint={2 * fps}:min-keyint={fps}"}
        self._v = v
        self._frames = 0
        self._a: Any = None
        self._pending = np.zeros((2, 0), dtype=np.float32)
        self._samples = 0
        if audio:
            a = self._c.add_stream("aac", rate=rate, layout="stereo")
            a.time_base = Fraction(1, rate)
            a.bit_rate = 192_000
            self._a = a

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._c.mux(self._v.encode(None))
                if self._a is not None:
                    self._emit_audio(final=True)
                    self._c.mux(self._a.encode(None))
        finally:
            self._c.close()

    def video(self, yuv: U8) -> None:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self._frames
        frame.time_base = Fraction(1, self._fps)
        self._c.mux(self._v.encode(frame))
        self._frames += 1

    def audio_until(self, target: int, sound: Iterator[F32]) -> None:
        while self._samples + self._pending.shape[1] < target:
            chunk = next(sound, None)
            if chunk is None:
                break
            self._pending = np.concatenate([self._pending, chunk], axis=1)
        self._emit_audio(final=False)

    def _emit_audio(self, *, final: bool) -> None:
        while self._pending.shape[1] >= _CHUNK or (final and self._pending.shape[1]):
            pcm, self._pending = self._pending[:, :_CHUNK], self._pending[:, _CHUNK:]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(np.clip(pcm, -1, 1)), format="fltp", layout="stereo"
            )
            frame.sample_rate = self._rate
            frame.pts = self._samples
            frame.time_base = Fraction(1, self._rate)
            self._c.mux(self._a.encode(frame))
            self._samples += pcm.shape[1]


@contextlib.contextmanager
def _opened(path: StrPath) -> Iterator[Any]:
    try:
        with av.open(os.fspath(path)) as c:
            yield c
    except av.FFmpegError as e:
        raise CorruptMediaError(path, f"undecodable media: {e}") from e


def film_duration_s(clips: Sequence[Clip], fps: int = 24) -> float:
    """What :func:`stitch` will produce, in seconds, without decoding anything but the index."""
    return sum(p.frames - p.overlap for p in _plan(clips, fps)) / fps
