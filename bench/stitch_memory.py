"""Peak memory of stitching a film: a short film vs one six times longer, same clips, same machine.

Two 8 s 720p clips with sound are rendered once; then, each in a fresh subprocess, veokit stitches them into a
short film (2 clips, 1 crossfade) and a long one (12 clips, 11 crossfades). Memory is flat when the long film's
peak RSS growth (over a baseline taken after imports) is no larger than the short one's plus a small margin:
only the clips being read and the encoder's look-ahead are ever in memory, never the film.

    uv run --group test python bench/stitch_memory.py

Exit status is non-zero when the long film needs more than --margin-mb (default 16) above the short one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PeakSampler  # bench/ is on sys.path when run as a script


def child(workdir: Path, repeats: int) -> dict[str, Any]:
    from veokit.media.stitch import Clip, stitch

    a, b = workdir / "a.mp4", workdir / "b.mp4"
    more = [Clip(p, crossfade_s=0.5) for _ in range(repeats) for p in (b, a)]
    clips = [Clip(a), *more[: 2 * repeats - 1]]
    sampler = PeakSampler()
    started = time.perf_counter()
    result = stitch(clips, workdir / f"film-{repeats}.mp4")
    elapsed = time.perf_counter() - started
    return {
        "clips": len(clips),
        "film_s": result.duration_s,
        "peak_mb": sampler.stop() / 1e6,
        "wall_s": elapsed,
        "size_mb": result.size_bytes / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--margin-mb", type=float, default=16.0)
    parser.add_argument("--child", nargs=2, metavar=("DIR", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), int(args.child[1]))))
        return
    from veokit.emulator.render import RenderSpec, render_mp4

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, prompt in (("a", "a rainy night platform"), ("b", "a steam train arriving")):
            render_mp4(RenderSpec(prompt=prompt, width=1280, height=720, duration_s=8.0), work / f"{name}.mp4")
        rows = []
        for repeats in (1, 6):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(work), str(repeats)],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'clips':>5} {'film':>8} {'peak RSS growth':>16} {'wall':>8} {'output':>9}")
    for r in rows:
        film, peak = f"{r['film_s']:>7.2f}s", f"{r['peak_mb']:>13.1f} MB"
        print(f"{r['clips']:>5} {film} {peak} {r['wall_s']:>7.1f}s {r['size_mb']:>6.1f} MB")
    short, long = rows
    grown = long["peak_mb"] - short["peak_mb"]
    print(f"the {long['film_s'] / short['film_s']:.1f}x longer film needed {grown:+.1f} MB more at its peak")
    if grown > args.margin_mb:
        raise SystemExit(f"memory grows with the film: {grown:.1f} MB > {args.margin_mb:g} MB")


if __name__ == "__main__":
    main()
