"""Waiting for a twin (engine/twins.py) at the seam where the store is read twice per look."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from veokit.engine.twins import await_twin
from veokit.models.job import Job, JobState, VideoResult, new_job_id, utcnow
from veokit.resilience.clock import FakeClock
from veokit.store.memory import MemoryJobStore

S = JobState


class LateDelivery(MemoryJobStore):
    """The twin is delivered just after the look-up for delivered videos has answered "none yet": the race a
    loaded machine makes between the two reads of one look."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        self.lookups += 1
        return None if self.lookups == 1 else await super().find_succeeded_by_fingerprint(fingerprint)


def job(state: JobState, out_dir: Path, **kw: object) -> Job:
    now = utcnow()
    return Job(
        id=new_job_id(),
        state=state,
        provider="emulator",
        model="veo-3.0-fast-generate-001",
        request={"prompt": "twin lighthouse", "seed": 42},
        fingerprint="fp-twin",
        out_dir=str(out_dir),
        estimate_usd=0.4,
        created_at=now,
        updated_at=now,
        **kw,  # type: ignore[arg-type]
    )


def video(path: Path) -> VideoResult:
    path.write_bytes(b"\0\0\0\x18ftypmp42")
    return VideoResult(
        index=0, path=str(path), sha256="ab" * 32, size_bytes=12, width=1280, height=720, duration_s=4.0,
        fps=24.0, video_codec="h264", audio_codec=None,
    )  # fmt: skip


async def settle(store: MemoryJobStore, waiting: Job) -> tuple[Job, frozenset[str]]:
    return await await_twin(
        store, waiting, clock=FakeClock(), interval_s=1.0, now=lambda: dt.datetime.now(dt.UTC), waiting=lambda _: None
    )


async def test_a_twin_delivered_between_the_two_reads_gives_its_video(tmp_path: Path) -> None:
    store = LateDelivery()
    twin = await store.create(job(S.SUCCEEDED, tmp_path / "a", cost_usd=0.4, results=[video(tmp_path / "v.mp4")]))
    waiting = await store.create(job(S.QUEUED, tmp_path / "b", twin_of=twin.id))
    done, passed = await settle(store, waiting)
    assert (done.state, done.cost_usd, done.twin_of, passed) == (S.SUCCEEDED, 0.0, twin.id, frozenset())
    assert Path(done.results[0].path).is_file() and store.lookups == 1


async def test_a_delivered_twin_whose_files_are_gone_is_passed_over(tmp_path: Path) -> None:
    store = LateDelivery()
    gone = video(tmp_path / "v.mp4")
    Path(gone.path).unlink()
    twin = await store.create(job(S.SUCCEEDED, tmp_path / "a", cost_usd=0.4, results=[gone]))
    waiting = await store.create(job(S.QUEUED, tmp_path / "b", twin_of=twin.id))
    done, passed = await settle(store, waiting)
    assert (done.state, done.twin_of, passed) == (S.QUEUED, twin.id, frozenset({twin.id}))
