"""Issue 11, target 1, the store's share: the worker's per-job store writes on SQLite vs raw sqlite3.

Two sides, one after the other, each in a fresh process on a fresh SQLite file (WAL, fsync'd commits):

* veokit: ``SqlJobStore`` (wrapped in ``FencedStore``, each job under its lease fence, as the worker runs it)
  making exactly the worker's store calls for one job, ``--concurrency`` jobs at a time so that group commit
  behaves as in the worker: claim (whenever a job ends, as many as there are free slots, at most 50: as the
  worker claims), ``get`` (the re-read under the provider's slot), ``begin_submit``, ``record_accepted``,
  ``transition`` submitting→running (operation name), running→downloading, downloading→succeeded (results,
  cost). The jobs are recorded (``create_many``) before
  the measurement, as the worker finds them;
* floor: ``bench/floor_client.py``'s ``Db``: five autocommit statements per job (insert queued, submitting,
  running, downloading, succeeded) on one sqlite3 thread, the same concurrency;
* before (``--before-src DIR``): the veokit side with another tree's ``src/`` first on ``sys.path``.

Printed per side: CPU ms per job (user + system of the whole process, its threads included, over the measured
calls; the median of ``--repeat`` passes), statements and thread hand-offs per job (counted in a second, smaller,
untimed pass: sqlite3's trace callback sees every statement, SAVEPOINT and COMMIT included; a hand-off is one
call queued to aiosqlite's thread, or the floor's executor), the ratio to the floor, and the 1-minute load average.

    nice .venv/bin/python bench/store_path.py --jobs 2000
    git archive main src | tar -x -C /tmp/main-src && nice .venv/bin/python bench/store_path.py \\
        --sides floor,before,veokit --before-src /tmp/main-src/src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIDES = ("floor", "veokit", "before")
MAX_STARTING = 50  # the worker's default (engine/worker.py): jobs claimed at once


class Counts:
    """Statements (sqlite3 trace callback on every connection opened) and hand-offs to a database thread."""

    def __init__(self) -> None:
        self.statements = 0
        self.handoffs = 0
        self.kinds: dict[str, int] = {}
        self.on = False  # counting only the measured calls (not opening, migrating, recording the jobs)

    def trace(self, sql: str) -> None:
        if not self.on:
            return
        self.statements += 1
        word = " ".join(sql.split()[:2]).upper()
        self.kinds[word] = self.kinds.get(word, 0) + 1

    def install_veokit(self) -> None:
        import aiosqlite.core

        real_connect = sqlite3.connect

        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real_connect(*args, **kwargs)
            conn.set_trace_callback(self.trace)
            return conn

        aiosqlite.core.sqlite3.connect = connect  # type: ignore[attr-defined]
        real_execute = aiosqlite.core.Connection._execute

        async def execute(conn: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.handoffs += self.on
            return await real_execute(conn, fn, *args, **kwargs)

        aiosqlite.core.Connection._execute = execute  # type: ignore[method-assign]


def request(i: int) -> dict[str, Any]:
    """A stored request shaped like an enqueued text-to-video one (no seed: no twin to look for)."""
    return {
        "prompt": f"a lighthouse on a cliff at dusk, waves below, bench prompt {i}",
        "model": "veo-3.1-fast-generate-001",
        "duration_seconds": 4,
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "generate_audio": True,
        "sample_count": 1,
        "negative_prompt": None,
        "seed": None,
        "image": None,
        "last_frame": None,
        "reference_images": [],
        "video": None,
        "person_generation": None,
        "enhance_prompt": None,
    }


async def veokit_side(path: Path, jobs: int, concurrency: int, counts: Counts | None) -> dict[str, Any]:
    from veokit.models.job import Job, JobState, VideoResult, utcnow
    from veokit.store.fenced import FencedStore, lease_fence
    from veokit.store.sql import SqlJobStore

    S = JobState
    if counts is not None:
        counts.install_veokit()
    inner = SqlJobStore(f"sqlite+aiosqlite:///{path}")
    await inner.open()
    store = FencedStore(inner)
    at = utcnow()
    made = [
        Job(
            id=f"job-{i:06d}",
            state=S.QUEUED,
            provider="vertex",
            model="veo-3.1-fast-generate-001",
            request=request(i),
            fingerprint=f"fp-{i:06d}",
            out_dir=str(path.parent / "out"),
            estimate_usd=1.2,
            created_at=at,
            updated_at=at,
        )
        for i in range(jobs)
    ]
    await store.create_many(made)

    async def one(job: Job) -> None:
        assert job.lease_token is not None
        with lease_fence(job.lease_token):
            job = await store.get(job.id)
            begun = await store.begin_submit(
                job.id, caps=None, attempts=job.attempts + 1, message="submitting to vertex", now=utcnow()
            )
            name = f"projects/p/locations/l/publishers/google/models/m/operations/{job.id}"
            await store.record_accepted(job.id, begun.seq, name)
            await store.transition(
                job.id,
                expect=S.SUBMITTING,
                to=S.RUNNING,
                operation_name=name,
                submitted_at=utcnow(),
                error=None,
                message=f"operation {name}",
                attempts=begun.job.attempts,
            )
            await store.transition(job.id, expect=S.RUNNING, to=S.DOWNLOADING, message="1 video(s) ready")
            result = VideoResult(
                index=0,
                path=f"{job.out_dir}/{job.id}.mp4",
                sha256="0" * 64,
                size_bytes=1_000_000,
                width=1280,
                height=720,
                duration_s=8.0,
                fps=24.0,
                video_codec="h264",
                audio_codec="aac",
            )
            await store.transition(
                job.id,
                expect=S.DOWNLOADING,
                to=S.SUCCEEDED,
                results=[result],
                cost_usd=1.2,
                error=None,
                message="saved 1 video(s); cost $1.20",
            )

    if counts is not None:
        counts.on = True
    cpu0, t0 = time.process_time(), time.perf_counter()
    # Claimed as the worker claims: whenever a job ends, as many as there are free slots (at most
    # MAX_STARTING at once), so that claims are as small as the worker's.
    running: set[asyncio.Task[None]] = set()
    wake = asyncio.Event()

    def ended(task: asyncio.Task[None]) -> None:
        running.discard(task)
        wake.set()

    while True:
        wake.clear()
        free = min(concurrency - len(running), MAX_STARTING)
        claimed = await store.claim("bench-worker", lease_s=600.0, limit=free) if free > 0 else []
        for job in claimed:
            task = asyncio.create_task(one(job))
            running.add(task)
            task.add_done_callback(ended)
        if not claimed and not running:
            break
        if claimed and len(claimed) == free:
            continue
        await wake.wait()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if counts is not None:
        counts.on = False
    final = await inner.counts()
    await inner.close()
    if final != {(S.SUCCEEDED, "vertex"): jobs}:
        raise SystemExit(f"veokit side ended with {final}")
    return {"cpu_s": cpu, "wall_s": wall}


async def floor_side(
    path: Path, jobs: int, concurrency: int, counts: Counts | None, as_shipped: bool = False
) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    from floor_client import Db

    db = Db(path)
    if counts is not None:
        counts.on = True
        db.conn.set_trace_callback(counts.trace)
        real_commit = db.commit

        async def commit(sql: str, *params: Any) -> None:
            counts.handoffs += 1
            await real_commit(sql, *params)

        db.commit = commit  # type: ignore[method-assign]

    # Db.commit binds the time last, so numbered parameters put it in `updated` and the job's id in `id`.
    # bench/floor_client.py writes `updated=? WHERE id=?` with (id, time): its four updates match no row and write
    # nothing (--floor-as-shipped measures that).
    shipped = [
        "UPDATE jobs SET state='submitting', updated=? WHERE id=?",
        "UPDATE jobs SET state='running', operation=?, updated=? WHERE id=?",
        "UPDATE jobs SET state='downloading', updated=? WHERE id=?",
        "UPDATE jobs SET state='succeeded', path=?, sha256=?, updated=? WHERE id=?",
    ]
    meant = [
        "UPDATE jobs SET state='submitting', updated=?2 WHERE id=?1",
        "UPDATE jobs SET state='running', operation=?2, updated=?3 WHERE id=?1",
        "UPDATE jobs SET state='downloading', updated=?2 WHERE id=?1",
        "UPDATE jobs SET state='succeeded', path=?2, sha256=?3, updated=?4 WHERE id=?1",
    ]
    submitting, running, downloading, succeeded = shipped if as_shipped else meant

    async def one(i: int) -> None:
        await db.commit("INSERT INTO jobs (id, state, prompt, updated) VALUES (?, 'queued', ?, ?)", i, f"prompt {i}")
        await db.commit(submitting, i)
        name = f"projects/p/locations/l/publishers/google/models/m/operations/{i}"
        await (db.commit(running, name, i) if as_shipped else db.commit(running, i, name))
        await db.commit(downloading, i)
        path = f"{i}.mp4"
        await (db.commit(succeeded, path, "0", i) if as_shipped else db.commit(succeeded, i, path, "0"))

    cpu0, t0 = time.process_time(), time.perf_counter()
    sem = asyncio.Semaphore(concurrency)

    async def limited(i: int) -> None:
        async with sem:
            await one(i)

    await asyncio.gather(*(limited(i) for i in range(jobs)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    if counts is not None:
        counts.on = False
    n = db.conn.execute("SELECT count(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]
    db.close()
    if n != (0 if as_shipped else jobs):
        raise SystemExit(f"floor side ended with {n} succeeded")
    return {"cpu_s": cpu, "wall_s": wall}


def child(args: argparse.Namespace) -> dict[str, Any]:
    def side(path: Path, jobs: int, counts: Counts | None) -> Any:
        if args.child == "floor":
            return floor_side(path, jobs, args.concurrency, counts, args.floor_as_shipped)
        return veokit_side(path, jobs, args.concurrency, counts)

    timed = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="veokit-store-path-") as tmp:
            timed.append(asyncio.run(side(Path(tmp) / "timed.db", args.jobs, None)))
    out: dict[str, Any] = {
        "cpu_s": statistics.median(t["cpu_s"] for t in timed),
        "wall_s": statistics.median(t["wall_s"] for t in timed),
        "cpu_runs": [round(1000 * t["cpu_s"] / args.jobs, 2) for t in timed],
    }
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix="veokit-store-path-") as tmp:
        asyncio.run(side(Path(tmp) / "counted.db", args.count_jobs, counts))
    out["statements"] = counts.statements / args.count_jobs
    out["handoffs"] = counts.handoffs / args.count_jobs
    out["kinds"] = {k: round(v / args.count_jobs, 2) for k, v in sorted(counts.kinds.items(), key=lambda kv: -kv[1])}
    return out


def run_side(who: str, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    if who == "before":
        env["PYTHONPATH"] = os.pathsep.join([args.before_src, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, __file__, "--child", "floor" if who == "floor" else "veokit"]
    cmd += ["--jobs", str(args.jobs), "--concurrency", str(args.concurrency), "--count-jobs", str(args.count_jobs)]
    cmd += ["--repeat", str(args.repeat)] + (["--floor-as-shipped"] if args.floor_as_shipped else [])
    load0 = os.getloadavg()[0]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if p.returncode != 0:
        print(p.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{who} run failed")
    row = dict(json.loads(p.stdout.strip().splitlines()[-1]))
    row["load"] = max(load0, os.getloadavg()[0])
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per side (the median is printed)")
    ap.add_argument("--count-jobs", type=int, default=200, help="jobs of the untimed pass counting statements")
    ap.add_argument("--sides", default="floor,veokit", help="comma-separated, in order: floor, before, veokit")
    ap.add_argument("--before-src", help="a src/ directory of veokit to run as the 'before' side")
    ap.add_argument("--floor-as-shipped", action="store_true", help="the floor's SQL as floor_client.py binds it")
    ap.add_argument("--kinds", action="store_true", help="print the statements per job by kind")
    ap.add_argument("--child", choices=["floor", "veokit"])
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0
    sides = [s.strip() for s in args.sides.split(",")]
    if unknown := set(sides) - set(SIDES):
        ap.error(f"unknown sides {sorted(unknown)}")
    if "before" in sides and not args.before_src:
        ap.error("--sides before needs --before-src")
    rows = {who: run_side(who, args) for who in sides}
    floor = rows.get("floor")
    print(
        f"\n{args.jobs} jobs, {args.concurrency} at a time, SQLite WAL on {tempfile.gettempdir()}; one process a side\n"
    )
    print(f"{'side':<8}{'CPU ms/job':>12}{'x floor':>9}{'wall s':>8}{'stmts/job':>11}{'hand-offs/job':>15}{'load':>7}")
    for who, row in rows.items():
        ratio = f"{row['cpu_s'] / floor['cpu_s']:.2f}" if floor else "-"
        print(
            f"{who:<8}{1000 * row['cpu_s'] / args.jobs:>12.2f}{ratio:>9}{row['wall_s']:>8.1f}"
            f"{row['statements']:>11.1f}{row['handoffs']:>15.1f}{row['load']:>7.2f}"
        )
    print(
        "\n(CPU ms/job: the median of --repeat timed passes, each in a fresh database: "
        + "; ".join(f"{who} {row['cpu_runs']}" for who, row in rows.items())
        + ")"
    )
    if args.kinds:
        for who, row in rows.items():
            print(f"{who}: {row['kinds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
