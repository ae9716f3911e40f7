"""A film at a glance: a PNG grid of every take's poster frame, and a self-contained HTML page.

The PNG has one row per shot and one cell per take (the chosen take framed), each captioned with the shot, the
take and its price. The HTML page is one file with its styles and poster images inside; its players point at
the videos by paths relative to the page, so the page keeps working when the folder is moved or zipped.
Poster frames come from the middle of the shot's own part of each take (for an extension, of the 7 s it adds).
"""

from __future__ import annotations

import base64
import html
import io
import os
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from veokit.media.frames import frame_at_rgb
from veokit.media.probe import CorruptMediaError
from veokit.models.film_plan import FilmPlan
from veokit.models.shot_prompt import timestamp
from veokit.models.storyboard import Storyboard

_BG, _FG, _DIM, _PICK, _EMPTY = (18, 18, 20), (235, 235, 235), (150, 150, 155), (250, 200, 40), (55, 55, 60)


@dataclass(frozen=True)
class SheetTake:
    number: int
    video: pathlib.Path | None  # None: not rendered (yet)
    status: str = "succeeded"
    chosen: bool = False


@dataclass(frozen=True)
class SheetShot:
    id: str
    continuity: str
    prompt: str
    dialogue: tuple[str, ...]
    seconds: float
    price_usd: float
    poster_s: float  # where in each take's video the poster frame is
    takes: tuple[SheetTake, ...]


def sheet_from_plan(
    plan: FilmPlan,
    board: Storyboard,
    videos: Mapping[tuple[str, int], pathlib.Path],
    statuses: Mapping[tuple[str, int], str] | None = None,
) -> tuple[SheetShot, ...]:
    """The sheet's rows: ``videos`` maps (shot id, take number) to the take's file; ``statuses`` says what
    became of takes without one (default "not rendered")."""
    rows = []
    for s in plan.shots:
        shot = board.shot(s.id)
        lines = []
        for line in shot.dialogue:
            when = f"[{timestamp(line.at)}] " if line.at is not None else ""
            lines.append(f"{when}{board.display_name(line.speaker)}: {line.text}")
        start = s.video_seconds - s.seconds
        takes = tuple(
            SheetTake(
                t.number,
                videos.get((s.id, t.number)),
                "succeeded" if (s.id, t.number) in videos else (statuses or {}).get((s.id, t.number), "not rendered"),
                t.number == s.pick,
            )
            for t in s.takes
        )
        continuity = s.continuity if s.upstream is None else f"{s.continuity} from {s.upstream.shot}"
        rows.append(
            SheetShot(s.id, continuity, s.prompt, tuple(lines), s.seconds, s.price_usd, start + s.seconds / 2, takes)
        )
    return tuple(rows)


def contact_sheet_png(
    shots: Sequence[SheetShot], out: pathlib.Path, *, title: str = "", thumb_width: int = 320
) -> None:
    """Write the poster grid to ``out`` (PNG)."""
    posters = _posters(shots, thumb_width)
    thumb_h = _thumb_height(posters, thumb_width)
    pad, caption = 12, 18
    font = ImageFont.load_default(size=13)
    head = 34 if title else 0
    cols = max(len(s.takes) for s in shots)
    cell_w, cell_h = thumb_width + pad, thumb_h + caption + pad
    sheet = Image.new("RGB", (pad + cols * cell_w, head + pad + len(shots) * cell_h), _BG)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((pad, 10), title, font=ImageFont.load_default(size=18), fill=_FG)
    for r, shot in enumerate(shots):
        for c, take in enumerate(shot.takes):
            x, y = pad + c * cell_w, head + pad + r * cell_h
            poster = posters.get((shot.id, take.number))
            if poster is None:
                draw.rectangle((x, y, x + thumb_width - 1, y + thumb_h - 1), fill=_EMPTY)
                draw.text((x + 8, y + thumb_h // 2 - 7), take.status, font=font, fill=_DIM)
            else:
                sheet.paste(poster.resize((thumb_width, thumb_h)), (x, y))
            if take.chosen:
                draw.rectangle((x - 3, y - 3, x + thumb_width + 2, y + thumb_h + 2), outline=_PICK, width=3)
            label = f"{shot.id}  take {take.number}/{len(shot.takes)}  ${shot.price_usd / len(shot.takes):.2f}"
            draw.text((x, y + thumb_h + 3), label, font=font, fill=_PICK if take.chosen else _FG)
    buf = io.BytesIO()
    sheet.save(buf, "PNG", optimize=True)
    _write(out, buf.getvalue())


def contact_sheet_html(
    shots: Sequence[SheetShot],
    out: pathlib.Path,
    *,
    title: str,
    total_usd: float,
    film: pathlib.Path | None = None,
    thumb_width: int = 320,
) -> None:
    """Write the page to ``out``: the film, then each shot with its prompt, dialogue, price and takes."""
    here = out.resolve().parent
    posters = _posters(shots, thumb_width)
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="total">{len(shots)} shots, {sum(len(s.takes) for s in shots)} takes, ${total_usd:.2f}</p>',
    ]
    if film is not None:
        parts.append(f'<video class="film" controls preload="metadata" src="{e(_rel(film, here))}"></video>')
    for shot in shots:
        parts.append(f'<section id="{e(shot.id)}"><h2>{e(shot.id)} <small>{e(shot.continuity)}, ')
        parts.append(f"{shot.seconds:g} s, ${shot.price_usd:.2f}</small></h2>")
        parts.append(f'<pre class="prompt">{e(shot.prompt)}</pre>')
        if shot.dialogue:
            parts.append('<ul class="dialogue">' + "".join(f"<li>{e(d)}</li>" for d in shot.dialogue) + "</ul>")
        parts.append('<div class="takes">')
        for take in shot.takes:
            chosen = " chosen" if take.chosen else ""
            parts.append(f'<figure class="take{chosen}">')
            poster = posters.get((shot.id, take.number))
            if take.video is not None:
                attr = f' poster="{_data_uri(poster)}"' if poster is not None else ""
                src = e(_rel(take.video, here))
                parts.append(f'<video controls preload="none"{attr} src="{src}"></video>')
            else:
                parts.append(f'<div class="missing">{e(take.status)}</div>')
            parts.append(f"<figcaption>take {take.number}{' (chosen)' if take.chosen else ''}</figcaption></figure>")
        parts.append("</div></section>")
    parts.append("</body></html>")
    _write(out, "\n".join(parts).encode())


_CSS = (
    "body{background:#121214;color:#ebebeb;font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem}"
    "h2 small{color:#96969b;font-weight:normal}.total{color:#96969b}"
    ".film{width:100%;max-height:70vh;background:#000}"
    ".prompt{white-space:pre-wrap;background:#1d1d21;padding:.75rem;border-radius:6px}"
    ".takes{display:flex;flex-wrap:wrap;gap:1rem}.take{margin:0}.take video,.missing{width:320px;display:block}"
    ".take.chosen video{outline:3px solid #fac828}.missing{aspect-ratio:16/9;background:#37373c;color:#96969b;"
    "display:flex;align-items:center;justify-content:center}figcaption{color:#96969b}"
)


def _posters(shots: Sequence[SheetShot], width: int) -> dict[tuple[str, int], Image.Image]:
    posters: dict[tuple[str, int], Image.Image] = {}
    for shot in shots:
        for take in shot.takes:
            if take.video is None:
                continue
            try:
                rgb = frame_at_rgb(take.video, shot.poster_s)
            except CorruptMediaError:
                continue  # a take that cannot be read shows as missing rather than failing the sheet
            image = Image.fromarray(rgb, "RGB")
            posters[(shot.id, take.number)] = image.resize((width, max(1, round(width * image.height / image.width))))
    return posters


def _thumb_height(posters: Mapping[tuple[str, int], Image.Image], width: int) -> int:
    for poster in posters.values():
        return poster.height
    return width * 9 // 16


def _data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _rel(path: pathlib.Path, here: pathlib.Path) -> str:
    return pathlib.Path(os.path.relpath(path.resolve(), here)).as_posix()


def _write(out: pathlib.Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
