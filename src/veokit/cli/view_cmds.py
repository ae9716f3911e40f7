"""`veokit open [ID]` and `veokit gallery`: look at the videos, or share them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from veokit.cli import options as opt
from veokit.cli import output as ui
from veokit.cli.failures import cli_errors
from veokit.config import load_settings


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("open", epilog=OPEN_EXAMPLES)(cli_errors(open_video))
    app.command("gallery", epilog=GALLERY_EXAMPLES)(cli_errors(gallery))


OPEN_EXAMPLES = """Examples:

  veokit open

  veokit open job_01JD8Z3K2M4N5P6Q7R --folder

  veokit open --print | xargs ls -l
"""


def _opener() -> list[str] | None:
    """The platform's "open with the default app" command, or ``None`` where nothing can show a window."""
    if sys.platform == "darwin":
        return ["open"]
    if sys.platform == "win32":
        return ["explorer"]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None  # an SSH session or a container: printing the path is all that helps
    for name in ("xdg-open", "gio"):
        found = shutil.which(name)
        if found:
            return [found, "open"] if name == "gio" else [found]
    return None


def open_video(
    job_id: Annotated[str | None, typer.Argument(help="The job (job_…); default: the newest with a video.")] = None,
    folder: Annotated[bool, typer.Option("--folder", help="Open the folder that holds the video(s).")] = False,
    print_only: Annotated[bool, typer.Option("--print", help="Only print the path; open nothing.")] = False,
) -> None:
    """Open a finished job's video with the platform's default player (its folder when it has several).

    The path is always printed on stdout; where there is no display (SSH, containers) that is all it does."""
    from veokit.service import VeoClient
    from veokit.service.gallery import open_target

    async def go() -> Path:
        async with VeoClient(load_settings()) as client:
            job = await (client.get_job(job_id) if job_id else client.latest_succeeded())
            return open_target(job, folder=folder)

    target = asyncio.run(go())
    ui.line(str(target))
    opener = None if print_only else _opener()
    if opener is None:
        if not print_only:
            ui.info("no display here: copy the path above, or `veokit gallery` for a page to share")
        return
    # Detached: the player outlives this command, and its own chatter does not land in our output.
    subprocess.Popen(  # noqa: S603 - a fixed opener and a path from our own store
        [*opener, str(target)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ui.info(f"opened with {Path(opener[0]).name}")


GALLERY_EXAMPLES = """Examples:

  veokit gallery

  veokit gallery --out ~/Desktop/fox.html --limit 12

  veokit gallery --all --open
"""


def gallery(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="FILE", help="The HTML file to write (its players link to the MP4s beside it)."
        ),
    ] = Path("veokit-gallery.html"),
    limit: Annotated[int, typer.Option("--limit", "-l", metavar="N", help="The newest N jobs.")] = 50,
    all_states: Annotated[
        bool, typer.Option("--all", help="Include jobs without a video (failed, filtered, running), with why.")
    ] = False,
    open_it: Annotated[bool, typer.Option("--open", help="Open the page once written.")] = False,
    as_json: opt.Json = False,
) -> None:
    """Write a self-contained HTML contact sheet of recent jobs: poster frames, prompt, model, cost, player."""
    from veokit.service import VeoClient

    if out.is_dir():
        out = out / "veokit-gallery.html"

    async def go() -> tuple[int, int]:
        async with VeoClient(load_settings()) as client:
            return await client.gallery(out, limit=limit, all_states=all_states)

    jobs, videos = asyncio.run(go())
    if as_json:
        ui.print_json({"path": str(out.resolve()), "jobs": jobs, "videos": videos})
        return
    ui.line(str(out.resolve()))
    ui.info(f"{videos} video(s) from {jobs} job(s)" + ("" if jobs else "; nothing generated yet"))
    opener = _opener() if open_it else None
    if opener is not None:
        subprocess.Popen(  # noqa: S603
            [*opener, str(out.resolve())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
