"""A finished video's files as a surface serves them: the MP4, and its poster and spritesheet, made on first
request from the MP4 and kept beside it (so a gallery of a hundred videos decodes each once)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from veokit import errors as E
from veokit.media.previews import spritesheet_jpeg, thumbnail_webp
from veokit.media.probe import CorruptMediaError
from veokit.models.job import Job, JobState

Variant = Literal["video", "thumbnail", "spritesheet"]
VARIANTS: dict[str, tuple[str, str, Callable[[Path], bytes] | None]] = {
    "video": ("", "video/mp4", None),
    "thumbnail": (".thumbnail.webp", "image/webp", thumbnail_webp),
    "spritesheet": (".spritesheet.jpg", "image/jpeg", spritesheet_jpeg),
}


async def asset(job: Job, variant: str = "video", index: int = 0) -> tuple[Path, str]:
    """The file of ``variant`` for the job's ``index``-th video, and its media type. Raises
    :class:`~veokit.errors.JobStateError` before the job has succeeded, :class:`~veokit.errors.InvalidRequest`
    for an unknown variant or index, :class:`~veokit.errors.DownloadExpired` when the file is gone."""
    if variant not in VARIANTS:
        raise E.InvalidRequest(
            f"variant: {variant!r} is not one of {', '.join(VARIANTS)}", field="variant", allowed=list(VARIANTS)
        )
    if job.state is not JobState.SUCCEEDED:
        raise E.JobStateError(f"job {job.id} is {job.state.value}: its video is not ready")
    if not 0 <= index < len(job.results):
        raise E.InvalidRequest(f"index: {index} is out of range", field="index", allowed=list(range(len(job.results))))
    video = Path(job.results[index].path)
    suffix, media_type, make = VARIANTS[variant]
    if not await asyncio.to_thread(video.is_file):
        raise E.DownloadExpired(f"the file of job {job.id} is gone from this server ({video.name})")
    if make is None:
        return video, media_type
    derived = video.with_name(video.name + suffix)
    if not await asyncio.to_thread(derived.is_file):
        await asyncio.to_thread(_make, make, video, derived)
    return derived, media_type


def _make(make: Callable[[Path], bytes], video: Path, derived: Path) -> None:
    try:
        data = make(video)
    except CorruptMediaError as exc:
        raise E.CorruptVideo(f"cannot make a preview of {video.name}: {exc.reason}") from None
    partial = derived.with_name(f".{derived.name}.{os.getpid()}.partial")
    partial.write_bytes(data)
    partial.replace(derived)  # atomic: a reader never sees half an image; concurrent makers agree
