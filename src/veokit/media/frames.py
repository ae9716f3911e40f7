"""Single frames of an MP4 as PNG: the first, the exact last (a ``last_frame`` continuation starts on it), and
the frame shown at any time (posters).

The last frame is the last one *displayed*, decoded from the final keyframe to the end of the stream, not the
final keyframe itself: with one keyframe per second or two that would be up to 47 frames early, and the next
shot would start on a visibly different picture.
"""

from __future__ import annotations

import io
import os

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

from veokit.media.probe import CorruptMediaError, StrPath, first_frame_rgb, last_frame_rgb, probe_mp4

RGB = npt.NDArray[np.uint8]


def png_bytes(rgb: RGB) -> bytes:
    """Lossless PNG of an (H, W, 3) RGB frame: a continuation must start on these exact pixels."""
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def first_frame_png(path: StrPath) -> bytes:
    return png_bytes(first_frame_rgb(path))


def last_frame_png(path: StrPath) -> bytes:
    return png_bytes(last_frame_rgb(path))


def frame_at_rgb(path: StrPath, t_s: float) -> RGB:
    """The frame on screen at ``t_s`` seconds (clamped to the video), as (H, W, 3) RGB."""
    duration = probe_mp4(path).duration_s
    if t_s <= 0:
        return first_frame_rgb(path)
    try:
        with av.open(os.fspath(path)) as c:
            v = c.streams.video[0]
            tb = v.time_base
            if tb is None:
                raise CorruptMediaError(path, "video stream has no time base")
            target = min(t_s, duration)
            c.seek(int(target / tb), stream=v, backward=True)
            shown: av.VideoFrame | None = None
            for frame in c.decode(v):
                if frame.pts is not None and shown is not None and float(frame.pts * tb) > target + 1e-6:
                    break
                shown = frame
            if shown is None:
                raise CorruptMediaError(path, f"no decodable frame at {t_s:g} s")
            rgb = np.asarray(shown.to_ndarray(format="rgb24"), dtype=np.uint8)
    except av.FFmpegError as e:
        raise CorruptMediaError(path, f"undecodable media: {e}") from e
    return rgb


def frame_png(path: StrPath, t_s: float) -> bytes:
    return png_bytes(frame_at_rgb(path, t_s))
