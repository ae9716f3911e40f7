"""A contact sheet of recent jobs as one HTML file: poster frame, prompt, model, cost and a player for each video.

The page is self-contained (styles inline, posters embedded as JPEG data URIs), so it can be mailed or
attached anywhere; its players point at the MP4s by relative path, so it plays wherever it sits beside them.
"""

from __future__ import annotations

import html
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from veokit.media.contact_sheet import _data_uri, _rel, _write
from veokit.media.frames import frame_at_rgb
from veokit.media.probe import CorruptMediaError

POSTER_S = 1.0  # a second in: past any fade-in, still the opening picture


@dataclass(frozen=True)
class GalleryItem:
    title: str  # the job id
    prompt: str
    caption: str  # model, provider, date, cost
    status: str  # "succeeded", or why there is no video
    videos: Sequence[pathlib.Path] = field(default_factory=tuple)


def gallery_html(items: Sequence[GalleryItem], out: pathlib.Path, *, title: str, thumb_width: int = 320) -> int:
    """Write the page to ``out``; returns how many videos it shows (missing files show as such)."""
    here = out.resolve().parent
    e = html.escape
    shown = 0
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        '<div class="grid">',
    ]
    for item in items:
        parts.append(f'<article id="{e(item.title)}">')
        videos = [v for v in item.videos if v.is_file()]
        for video in videos:
            poster = _poster(video, thumb_width)
            attr = f' poster="{_data_uri(poster)}"' if poster is not None else ""
            parts.append(f'<video controls preload="none"{attr} src="{e(_rel(video, here))}"></video>')
            shown += 1
        if not videos:
            why = item.status if item.status != "succeeded" else "file moved or deleted"
            parts.append(f'<div class="missing">{e(why)}</div>')
        parts.append(f'<p class="prompt">{e(item.prompt)}</p>')
        parts.append(f'<p class="meta">{e(item.caption)}<br><code>{e(item.title)}</code></p></article>')
    parts.append("</div></body></html>")
    _write(out, "\n".join(parts).encode())
    return shown


def _poster(video: pathlib.Path, width: int) -> Image.Image | None:
    try:
        rgb = frame_at_rgb(video, POSTER_S)
    except CorruptMediaError:
        return None  # an unreadable file still gets its player, without a poster
    image = Image.fromarray(rgb, "RGB")
    return image.resize((width, max(1, round(width * image.height / image.width))))


_CSS = (
    "body{background:#121214;color:#ebebeb;font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:80rem;"
    "padding:0 1rem}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1.25rem}"
    "article{background:#1d1d21;border-radius:8px;padding:.5rem}video,.missing{width:100%;display:block;"
    "border-radius:6px;background:#000}.missing{aspect-ratio:16/9;background:#37373c;color:#96969b;display:flex;"
    "align-items:center;justify-content:center;text-align:center}.prompt{margin:.5rem 0 .25rem}"
    ".meta{color:#96969b;font-size:13px;margin:0}code{font-size:12px}"
)
