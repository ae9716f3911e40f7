"""Recent jobs as a user looks at them: the file to open, and a shareable HTML contact sheet."""

from __future__ import annotations

import pathlib

from veokit.errors import JobStateError
from veokit.media.gallery import GalleryItem, gallery_html
from veokit.models.job import Job, JobState
from veokit.service.next_step import reason


def open_target(job: Job, *, folder: bool = False) -> pathlib.Path:
    """What ``veokit open`` shows: the job's video (its folder when it has several, or with ``folder``)."""
    if job.state is not JobState.SUCCEEDED or not job.results:
        raise JobStateError(f"job {job.id} is {job.state.value}: {reason(job)}; it has no video to open")
    paths = [pathlib.Path(r.path) for r in job.results]
    if folder or len(paths) > 1:
        return paths[0].parent
    if not paths[0].is_file():
        raise JobStateError(f"job {job.id}'s video {paths[0]} is no longer there (moved or deleted)")
    return paths[0]


def gallery_items(jobs: list[Job]) -> list[GalleryItem]:
    items = []
    for j in jobs:
        cost = f"${j.cost_usd:.2f}" if j.cost_usd is not None else f"~${j.estimate_usd:.2f} estimated"
        when = j.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        items.append(
            GalleryItem(
                title=j.id,
                prompt=str(j.request.get("prompt", "")),
                caption=f"{j.model} on {j.provider} · {when} · {cost}",
                status=j.state.value if j.state is JobState.SUCCEEDED else f"{j.state.value}: {reason(j)}",
                videos=tuple(pathlib.Path(r.path) for r in j.results),
            )
        )
    return items


def write_gallery(jobs: list[Job], out: pathlib.Path, *, title: str = "veokit: recent videos") -> int:
    """Write the contact sheet of ``jobs`` to ``out``; returns how many videos it shows."""
    return gallery_html(gallery_items(jobs), out, title=title)
