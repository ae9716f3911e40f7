"""De-duplication: answer a request identical to one already generated with that video, paying nothing.

Only requests with a fixed seed qualify: without one Veo returns a different video each time, so two equal
requests are not duplicates. "Identical" is :meth:`GenerateRequest.fingerprint`, a canonical hash of every
field that shapes the output, with input images and videos by content hash. The reusing job is recorded
like any other (so an idempotent ``client_key`` maps to it), already ``succeeded``, at cost $0.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path

from veokit.engine import inputs
from veokit.models.job import Job, JobEvent, JobState, VideoResult, new_job_id, utcnow
from veokit.models.request import GenerateRequest
from veokit.store.base import JobStore

_HASH_CHUNK = 1 << 20


async def find_reusable(store: JobStore, request: GenerateRequest) -> Job | None:
    """The newest succeeded job for the same request and seed whose files are all still on disk."""
    if request.seed is None:
        return None
    return await find_delivered(store, request.fingerprint())


async def find_delivered(store: JobStore, fingerprint: str) -> Job | None:
    """The newest succeeded job with this fingerprint whose files are all still on disk."""
    found = await store.find_succeeded_by_fingerprint(fingerprint)
    return found if found is not None and await on_disk(found) else None


async def on_disk(job: Job) -> bool:
    """Whether ``job`` has videos and every one of their files is still on disk."""
    return bool(job.results) and await asyncio.to_thread(lambda: all(Path(r.path).is_file() for r in job.results))


REUSED_FROM = "reused the video(s) of "


def reused_from(events: list[JobEvent]) -> str | None:
    """The id of the job whose videos a reused job got (read from its events: the first, or the one that ended
    a job that waited for its twin), else ``None``."""
    for e in events:
        if e.message.startswith(REUSED_FROM):
            return e.message[len(REUSED_FROM) :].split(":", 1)[0].strip() or None
    return None


async def reuse(
    store: JobStore,
    source: Job,
    request: GenerateRequest,
    *,
    provider: str,
    out_dir: Path,
    client_key: str | None,
    estimate_usd: float,
) -> Job:
    """Record a succeeded job whose results are ``source``'s videos, placed in ``out_dir``."""
    job_id = new_job_id()
    target = Path(os.path.abspath(out_dir))  # noqa: ASYNC240 - string work, no I/O
    results = await asyncio.to_thread(_place, source.results, target, job_id)
    stored = await inputs.record(store, request)  # the same contents as the source's: nothing new is written
    now = utcnow()
    job = Job(
        id=job_id,
        state=JobState.SUCCEEDED,
        provider=provider,
        model=source.model,
        request=stored,
        fingerprint=request.fingerprint(),
        client_key=client_key,
        out_dir=str(target),
        estimate_usd=estimate_usd,
        cost_usd=0.0,
        results=results,
        created_at=now,
        updated_at=now,
        finished_at=now,
    )
    recorded, _ = await store.create_or_get(
        job,
        message=f"{REUSED_FROM}{source.id}: same request and seed, nothing paid (--fresh generates a new one)",
    )
    return recorded


async def take_twins(store: JobStore, job: Job, source: Job) -> Job:
    """End ``job`` (queued, waiting for its twin) with ``source``'s videos placed in its out dir, at $0."""
    target = Path(job.out_dir)
    results = await asyncio.to_thread(_place, source.results, target, job.id)
    return await store.transition(
        job.id,
        expect=JobState.QUEUED,
        to=JobState.SUCCEEDED,
        results=results,
        cost_usd=0.0,
        twin_of=source.id,
        error=None,
        message=f"{REUSED_FROM}{source.id}: same request and seed, paid for once; nothing paid for this one "
        "(--fresh generates a new one)",
    )


def _place(results: list[VideoResult], out_dir: Path, job_id: str) -> list[VideoResult]:
    placed = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in results:
        src = Path(r.path)
        dest = out_dir / src.name
        if dest.exists() and not (dest.samefile(src) or _sha256(dest) == r.sha256):
            dest = out_dir / f"{src.stem}-{job_id[-8:]}{src.suffix}"
        if not dest.exists():
            try:
                os.link(src, dest)  # same file system: no copy, no extra space
            except OSError:
                shutil.copy2(src, dest)
        placed.append(r.model_copy(update={"path": str(dest)}))
    return placed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
