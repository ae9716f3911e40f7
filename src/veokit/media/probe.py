"""MP4 probing and integrity verification for downloaded (or rendered) videos.

Integrity is checked without decoding every frame, so a 500 MB file costs one sequential read:
every packet is demuxed (which reads its bytes), the per-stream packet counts must match the
sample tables in ``moov``, no packet may be flagged short, and the first and last video frames
must decode. With ``+faststart`` the ``moov`` box sits at the front, so a truncated download still
opens and only this demux pass reveals the missing sample data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

# Re-exported: media errors live in veokit.errors with the rest of the tree.
from veokit.errors import CorruptMediaError as CorruptMediaError
from veokit.errors import MediaError as MediaError
from veokit.media.mp4_tables import Mp4TableError, sample_extents

# PyAV and NumPy (~0.25 s to import) are loaded when a video is first read: the job engine and the service layer
# import this module, and enqueueing or `veokit --help` reads no video.
if TYPE_CHECKING:
    import av
    import av.container
    import numpy as np
    import numpy.typing as npt

_MP4_DEMUXER = "mp4"  # member of ffmpeg's "mov,mp4,m4a,3gp,3g2,mj2" demuxer family

StrPath = str | os.PathLike[str]


@dataclass(frozen=True)
class ProbeResult:
    container: str
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str | None
    size_bytes: int
    frames: int | None


@dataclass(frozen=True)
class Expectation:
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    audio: bool | None = None
    tolerance_s: float = 0.25


def probe_mp4(path: StrPath) -> ProbeResult:
    """Describe ``path`` after proving every sample is present and the end frames decode."""
    size = _size(path)
    with _open(path) as c:
        v = c.streams.video[0]
        # One decoder thread: frame threading allocates a set of frame buffers per thread.
        v.codec_context.thread_type = "NONE"
        v.codec_context.thread_count = 1
        video_samples = _check_sample_tables(path, c, size)
        _decode_first(path, c, v)
        _decode_last_keyframe(path, c, v)
        duration = _duration(c, v)
        frames = v.frames or video_samples
        fps = _fps(v, frames, duration)
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return ProbeResult(
            container=c.format.name,
            duration_s=duration,
            width=v.codec_context.width,
            height=v.codec_context.height,
            fps=fps,
            video_codec=v.codec_context.name,
            audio_codec=audio,
            size_bytes=size,
            frames=frames,
        )


def verify_mp4(path: StrPath, expect: Expectation | None = None) -> ProbeResult:
    """``probe_mp4`` plus a check against ``expect``; every mismatch is named in the error."""
    result = probe_mp4(path)
    if expect is None:
        return result
    problems: list[str] = []
    want_w = expect.width if expect.width is not None else result.width
    want_h = expect.height if expect.height is not None else result.height
    if (want_w, want_h) != (result.width, result.height):
        want = f"{_dim(expect.width)}x{_dim(expect.height)}"
        problems.append(f"expected {want}, got {result.width}x{result.height}")
    if expect.duration_s is not None and abs(result.duration_s - expect.duration_s) > expect.tolerance_s:
        problems.append(f"duration {round(result.duration_s, 3)} s, expected {expect.duration_s:g} s")
    if expect.audio is True and result.audio_codec is None:
        problems.append("expected audio, found none")
    if expect.audio is False and result.audio_codec is not None:
        problems.append(f"expected no audio, found {result.audio_codec}")
    if problems:
        raise CorruptMediaError(path, "; ".join(problems))
    return result


def first_frame_rgb(path: StrPath) -> npt.NDArray[np.uint8]:
    """The first video frame as an (H, W, 3) uint8 RGB array."""
    _size(path)
    with _open(path) as c:
        return _rgb(_decode_first(path, c, c.streams.video[0]))


def last_frame_rgb(path: StrPath) -> npt.NDArray[np.uint8]:
    """The last video frame (in display order) as an (H, W, 3) uint8 RGB array."""
    size = _size(path)
    with _open(path) as c:
        _, last_key_pts = _scan_packets(path, c, size)
        return _rgb(_decode_last(path, c, c.streams.video[0], last_key_pts))


def _dim(value: int | None) -> str:
    return "*" if value is None else str(value)


def _size(path: StrPath) -> int:
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise CorruptMediaError(path, f"cannot stat file: {e.strerror or e}") from e
    if size == 0:
        raise CorruptMediaError(path, "file is empty")
    return size


@contextlib.contextmanager
def _open(path: StrPath) -> Iterator[av.container.InputContainer]:
    import av

    try:
        # MP4 codec parameters come from the moov index; the default stream probing would read and
        # decode ahead (20 MB of heap for a 1080p noise video) to learn what the index already says.
        c = av.open(os.fspath(path), "r", options={"probesize": "32", "analyzeduration": "0"})
    except (av.FFmpegError, OSError) as e:
        raise CorruptMediaError(path, f"not a readable media container: {e}") from e
    try:
        if _MP4_DEMUXER not in c.format.name.split(","):
            raise CorruptMediaError(path, f"not an MP4 container (detected {c.format.name})")
        if not c.streams.video:
            raise CorruptMediaError(path, "no video stream")
        yield c
    except (av.FFmpegError, OSError) as e:
        raise CorruptMediaError(path, f"undecodable media: {e}") from e
    finally:
        c.close()


def _scan_packets(path: StrPath, c: av.container.InputContainer, size: int) -> tuple[int, int | None]:
    """Demux (without decoding) every packet; returns (video packet count, last video keyframe pts)."""
    v = c.streams.video[0]
    counts = dict.fromkeys((s.index for s in c.streams), 0)
    last_key_pts: int | None = None
    for pkt in c.demux():
        if pkt.size == 0 and pkt.dts is None:
            continue  # PyAV's end-of-stream flush marker, not a sample
        if pkt.is_corrupt:
            where = f"stream {pkt.stream_index} at byte {pkt.pos}"
            raise CorruptMediaError(path, f"truncated or damaged sample in {where}")
        if pkt.pos is not None and pkt.pos + pkt.size > size:
            raise CorruptMediaError(path, f"sample at byte {pkt.pos} extends past end of file ({size} bytes)")
        counts[pkt.stream_index] += 1
        if pkt.stream_index == v.index and pkt.is_keyframe:
            last_key_pts = pkt.pts
    for s in c.streams:
        # The moov sample table is authoritative: fewer demuxed packets means the mdat was cut.
        if s.frames and counts[s.index] < s.frames:
            raise CorruptMediaError(
                path, f"truncated: stream {s.index} ({s.type}) has {counts[s.index]} of {s.frames} samples"
            )
    if counts[v.index] == 0:
        raise CorruptMediaError(path, "video stream has no samples")
    return counts[v.index], last_key_pts


def _check_sample_tables(path: StrPath, c: av.container.InputContainer, size: int) -> int:
    """Every sample the index lists lies inside the file; returns the video sample count."""
    try:
        extents = sample_extents(path)
    except Mp4TableError as e:
        raise CorruptMediaError(path, f"truncated or damaged index: {e}") from e
    for ext in extents:
        if ext.end > size:
            raise CorruptMediaError(path, f"truncated: track {ext.track} needs {ext.end} bytes, the file has {size}")
    v = c.streams.video[0]
    if v.index < len(extents) and extents[v.index].samples == 0:
        raise CorruptMediaError(path, "video stream has no samples")
    return extents[v.index].samples if v.index < len(extents) else 0


def _decode_last_keyframe(path: StrPath, c: av.container.InputContainer, v: av.video.stream.VideoStream) -> None:
    """Decode the final keyframe: proves the tail of the bitstream is real, at the cost of one frame."""
    end = (v.start_time or 0) + (v.duration or 0)
    c.seek(max(end, 0), stream=v, backward=True)
    for _ in c.decode(v):
        return
    raise CorruptMediaError(path, "no decodable video frame at end")


def _decode_first(path: StrPath, c: av.container.InputContainer, v: av.video.stream.VideoStream) -> av.VideoFrame:
    c.seek(0, stream=v, backward=True)
    for frame in c.decode(v):
        return frame
    raise CorruptMediaError(path, "no decodable video frame at start")


def _decode_last(
    path: StrPath, c: av.container.InputContainer, v: av.video.stream.VideoStream, key_pts: int | None
) -> av.VideoFrame:
    # Decoding from the last keyframe to EOF is bounded by one GOP, whatever the file size.
    c.seek(key_pts if key_pts is not None else 0, stream=v, backward=True)
    last: av.VideoFrame | None = None
    for frame in c.decode(v):
        last = frame
    if last is None:
        raise CorruptMediaError(path, "no decodable video frame at end")
    return last


def _duration(c: av.container.InputContainer, v: av.video.stream.VideoStream) -> float:
    if v.duration and v.time_base:
        return float(v.duration * v.time_base)
    if c.duration:
        import av

        return float(Fraction(c.duration, av.time_base))
    return 0.0


def _fps(v: av.video.stream.VideoStream, frames: int, duration: float) -> float:
    for rate in (v.average_rate, v.guessed_rate, v.base_rate):
        if rate:
            return float(rate)
    return frames / duration if duration else 0.0


def _rgb(frame: av.VideoFrame) -> npt.NDArray[np.uint8]:
    import numpy as np

    arr = frame.to_ndarray(format="rgb24")
    assert arr.dtype == np.uint8
    return arr  # type: ignore[return-value]
