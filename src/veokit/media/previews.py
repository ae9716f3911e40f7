"""Previews of a video for a gallery: a poster (WebP) and a spritesheet (JPEG) of evenly spaced frames, the two
derived assets of OpenAI's Videos API (``variant=thumbnail`` and ``variant=spritesheet``).

The spritesheet decodes the video once, front to back, keeping the frame shown at each sample time: one pass
instead of a seek per tile, and memory for one frame plus the sheet.
"""

from __future__ import annotations

import io
import os

import av
import numpy as np
from PIL import Image

from veokit.media.frames import frame_at_rgb
from veokit.media.probe import CorruptMediaError, StrPath, probe_mp4

POSTER_AT_S = 1.0  # past any fade-in of the first frames, and still the opening of the shot
THUMB_WIDTH = 640
SPRITE_TILES = 20
SPRITE_COLUMNS = 5
SPRITE_TILE_WIDTH = 160


def _scaled(image: Image.Image, width: int) -> Image.Image:
    if image.width <= width:
        return image
    return image.resize((width, max(1, round(image.height * width / image.width))), Image.Resampling.LANCZOS)


def thumbnail_webp(path: StrPath, *, width: int = THUMB_WIDTH) -> bytes:
    """The poster: the frame at 1 s (the middle of a shorter video), ``width`` pixels wide at most."""
    duration = probe_mp4(path).duration_s
    frame = Image.fromarray(frame_at_rgb(path, min(POSTER_AT_S, duration / 2)), "RGB")
    buf = io.BytesIO()
    _scaled(frame, width).save(buf, "WEBP", quality=82)
    return buf.getvalue()


def spritesheet_jpeg(
    path: StrPath, *, tiles: int = SPRITE_TILES, columns: int = SPRITE_COLUMNS, tile_width: int = SPRITE_TILE_WIDTH
) -> bytes:
    """``tiles`` frames at evenly spaced times (the middle of each slice), in rows of ``columns``, left to right."""
    probe = probe_mp4(path)
    times = [probe.duration_s * (i + 0.5) / tiles for i in range(tiles)]
    tile_height = max(1, round(probe.height * tile_width / probe.width))
    rows = -(-tiles // columns)
    sheet = Image.new("RGB", (tile_width * columns, tile_height * rows))
    placed = 0
    try:
        with av.open(os.fspath(path)) as c:
            stream = c.streams.video[0]
            base = stream.time_base
            if base is None:
                raise CorruptMediaError(path, "video stream has no time base")
            shown: av.VideoFrame | None = None
            for frame in c.decode(stream):
                at = float(frame.pts * base) if frame.pts is not None else 0.0
                while placed < tiles and shown is not None and at > times[placed] + 1e-6:
                    _place(sheet, shown, placed, columns, tile_width, tile_height)
                    placed += 1
                shown = frame
            while placed < tiles and shown is not None:  # the last frame stands for the end of the video
                _place(sheet, shown, placed, columns, tile_width, tile_height)
                placed += 1
    except av.FFmpegError as e:
        raise CorruptMediaError(path, f"undecodable media: {e}") from e
    buf = io.BytesIO()
    sheet.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _place(sheet: Image.Image, frame: av.VideoFrame, n: int, columns: int, width: int, height: int) -> None:
    rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    tile = Image.fromarray(rgb, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    sheet.paste(tile, ((n % columns) * width, (n // columns) * height))
