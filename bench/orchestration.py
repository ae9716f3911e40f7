"""Many jobs at once: veokit's worker vs the physical floor (and the google-genai SDK quickstart), same emulator.

Every side runs N jobs (default 1,000) against one `veokit emulator` process whose generation latency is drawn
uniformly from Veo's real range scaled down 60x (11-360 s -> 0.18-6 s). Each side runs in a fresh subprocess:

* veokit: the jobs are enqueued in a SQLite store, then one in-process `Worker` with ``--concurrency`` slots
  runs them (async polling on veokit's schedule, scaled by the same factor: ``VEOKIT_POLL_SCALE=1/60``);
* floor: ``bench/floor_client.py``, the least a correct client does (aiohttp, the same wire calls on the same
  poll schedule, the inline video decoded to disk while streaming, the same MP4 verification (box walk, first
  frame and last keyframe decoded), five durable SQLite commits per job), no veokit code; its CPU without the
  frame decode is printed too;
* SDK (``--sides veokit,floor,sdk``): the quickstart loop (``generate_videos``; ``while not op.done:
  time.sleep(10); operations.get(op)``; save the video) with the sleep scaled by the same factor, run in a
  thread pool of the same size.

Reported: CPU seconds per job (user + system of the client process over its measured run, enqueueing
included: stable under a noisy neighbour, unlike wall time) and veokit's ratio to the floor; the load average
while each side ran; makespan; polls per job (the emulator's count); completion-noticed lag (when the client
learned a result was ready minus when the emulator made it ready) p50/p95; peak RSS; RSS growth per in-flight
job (peak growth over the post-warm-up baseline / peak jobs in flight). Every video is verified afterwards.

    uv run --group test python bench/orchestration.py [--jobs 1000] [--concurrency 100] [--scale 60]
        [--sides veokit,floor,sdk]

Exit status is non-zero when a side loses a job or a video fails verification.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from _common import (  # bench/ is on sys.path when run as a script
    LoadSampler,
    PeakSampler,
    emulated_vertex,
    free_port,
    wait_up,
)

T = TypeVar("T")

MODEL = "veo-3.1-fast-generate-001"
PROMPTS = ["a paper boat on a pond", "neon rain on a night street", "a fox in fresh snow", "a lighthouse at dusk"]
VEO_LATENCY_S = (11.0, 360.0)
CATALOG_LATENCY_S = (11.0, 45.0, 300.0)  # the catalog's [min, typical, max] for MODEL: the floor polls on it
QUICKSTART_SLEEP_S = 10.0
SIDES = ["veokit", "floor", "sdk"]


# -- veokit ---------------------------------------------------------------------------------------------
def child_veokit(
    base: str, out: Path, jobs: int, concurrency: int, scale: float, database_url: str | None = None
) -> dict[str, Any]:
    import asyncio

    from veokit.models.job import JobState
    from veokit.models.request import GenerateRequest
    from veokit.service import VeoClient, WorkerConfig

    settings = emulated_vertex(
        base,
        out,
        **({"database_url": database_url} if database_url else {}),
        poll_scale=1 / scale,
        rate_limit="off",
        job_deadline_s=VEO_LATENCY_S[1] * 3 / scale + 60,
    )

    async def go() -> dict[str, Any]:
        if database_url:
            await empty(database_url)
        async with VeoClient(settings) as veo:
            for prompt in PROMPTS:  # warm-up: imports, connection pools, the emulator's render cache
                await veo.generate(GenerateRequest(prompt=prompt, model=MODEL, duration_seconds=4))
            reset_emulator(base)
            cpu0 = cpu_s()
            t_enqueue = time.perf_counter()
            ids = [
                (
                    await veo.submit(
                        GenerateRequest(prompt=PROMPTS[i % len(PROMPTS)], model=MODEL, duration_seconds=4), fresh=True
                    )
                ).id
                for i in range(jobs)
            ]
            enqueue_s = time.perf_counter() - t_enqueue
            cpu_enqueue = cpu_s() - cpu0
            sampler = PeakSampler(0.005)
            t0 = time.time()
            # As shipped (max_starting and all); drain: return once every job has ended.
            worker = veo.worker(WorkerConfig(concurrency=concurrency, lease_s=30, idle_s=0.05, drain=True))
            stats = await worker.run()
            makespan = time.time() - t0
            cpu_total = cpu_s() - cpu0
            sampler.stop()
            done = await veo.get_many(ids)
            noticed: dict[str, float] = {}
            for job in done:
                for e in await veo.events(job.id):
                    if e.from_state is JobState.RUNNING and e.to_state is JobState.DOWNLOADING:
                        noticed[str(job.operation_name)] = e.at.timestamp()
        return {
            "makespan_s": makespan,
            "enqueue_s": enqueue_s,
            "cpu_s": cpu_total,
            "cpu_enqueue_s": cpu_enqueue,
            "rss_base": sampler.baseline,
            "rss_peak": sampler.peak,
            "peak_in_flight": stats.peak_in_flight,
            "noticed": noticed,
            "states": {s: sum(j.state.value == s for j in done) for s in {j.state.value for j in done}},
            "files": [r.path for j in done for r in j.results],
        }

    return asyncio.run(go())


def cpu_s() -> float:
    """User + system CPU of this process, every thread included (aiosqlite's, the floor's writer)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measured(run: Callable[[], T]) -> tuple[T, dict[str, Any]]:
    """``run()``'s answer, and the row fields every side without an enqueue phase reports for it."""
    sampler = PeakSampler(0.005)
    cpu0, t0 = cpu_s(), time.time()
    answer = run()
    makespan, cpu = time.time() - t0, cpu_s() - cpu0
    sampler.stop()
    row = {"makespan_s": makespan, "enqueue_s": 0.0, "cpu_s": cpu, "cpu_enqueue_s": 0.0}
    return answer, row | {"rss_base": sampler.baseline, "rss_peak": sampler.peak}


# -- the floor ------------------------------------------------------------------------------------------
def child_floor(base: str, out: Path, jobs: int, concurrency: int, scale: float) -> dict[str, Any]:
    import asyncio

    import floor_client

    kw: dict[str, Any] = {"model": MODEL, "latency_s": CATALOG_LATENCY_S, "scale": scale}
    warm = out / "warm-up"
    warm.mkdir()
    asyncio.run(floor_client.run(base, warm, prompts=PROMPTS, jobs=len(PROMPTS), concurrency=4, **kw))
    reset_emulator(base)
    row, figures = measured(
        lambda: asyncio.run(floor_client.run(base, out, prompts=PROMPTS, jobs=jobs, concurrency=concurrency, **kw))
    )
    return {**row, **figures, "states": {"succeeded": len(row["files"])}}


async def empty(database_url: str) -> None:
    """A shared database (--database-url) must be a disposable one: start from no jobs. Plain SQL on the
    tables veokit's store creates (when they exist yet), so the benchmark stays a user of veokit's service
    layer and never reaches into its store."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    url = sa.make_url(database_url)
    driver = {"postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}
    url = url.set(drivername=driver.get(url.drivername, url.drivername))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            present = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            for table in ("budget_ledger", "job_events", "jobs"):  # children first: foreign keys
                if table in present:
                    await conn.execute(sa.text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


# -- the SDK quickstart, in a thread pool ---------------------------------------------------------------
def child_sdk(base: str, out: Path, jobs: int, concurrency: int, scale: float) -> dict[str, Any]:
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials

    client = genai.Client(
        vertexai=True,
        project="bench",
        location="us-central1",
        credentials=Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=base + "/"),
    )
    sleep_s = QUICKSTART_SLEEP_S / scale
    lock = threading.Lock()
    in_flight = [0, 0]  # now, peak

    def one(i: int) -> tuple[str, float, str]:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        try:
            operation = client.models.generate_videos(
                model=MODEL,
                source=types.GenerateVideosSource(prompt=PROMPTS[i % len(PROMPTS)]),
                config=types.GenerateVideosConfig(duration_seconds=4),
            )
            while not operation.done:
                time.sleep(sleep_s)
                operation = client.operations.get(operation)
            noticed = time.time()
            assert operation.response is not None and operation.response.generated_videos
            video = operation.response.generated_videos[0].video
            assert video is not None and video.video_bytes is not None
            path = out / f"sdk-{i}.mp4"
            path.write_bytes(video.video_bytes)
            return str(operation.name), noticed, str(path)
        finally:
            with lock:
                in_flight[0] -= 1

    for k in range(len(PROMPTS)):  # warm-up, as for veokit
        one(k)
    reset_emulator(base)
    in_flight[1] = 0
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results, figures = measured(lambda: list(pool.map(one, range(jobs))))
    return {
        **figures,
        "peak_in_flight": in_flight[1],
        "noticed": {name: at for name, at, _ in results},
        "states": {"succeeded": len(results)},
        "files": [p for _, _, p in results],
    }


def reset_emulator(base: str) -> None:
    """Forget the warm-up's operations and counters: the parent reads only the measured run's."""
    import httpx

    httpx.post(f"{base}/_emulator/reset", timeout=30).raise_for_status()


# -- the parent: emulator, both sides, the table --------------------------------------------------------
def emulator_get(base: str, path: str) -> Any:
    import httpx

    return httpx.get(f"{base}/_emulator/{path}", timeout=60).json()


def epoch(rfc3339: str) -> float:
    return dt.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()


def run_side(who: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"veokit-bench-{who}-") as out:
        extra = ["--database-url", args.database_url] if args.database_url else []
        load = LoadSampler()
        p = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                who,
                "--base",
                base,
                "--out",
                out,
                "--jobs",
                str(args.jobs),
                "--concurrency",
                str(args.concurrency),
                "--scale",
                str(args.scale),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        row: dict[str, Any] = {"load": load.stop()}
        if p.returncode != 0:
            print(p.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{who} run failed")
        row.update(json.loads(p.stdout.strip().splitlines()[-1]))
        stats = emulator_get(base, "stats")
        ops = {o["name"]: o for o in emulator_get(base, "operations")["operations"]}
        lags = [
            at - epoch(ops[name]["done"]) for name, at in row["noticed"].items() if name in ops and ops[name]["done"]
        ]
        verified = verify(row["files"])
    row.update(
        polls=stats["polls"], submits=stats["submits_total"], lags=lags, verified=verified, jobs_done=len(row["files"])
    )
    return row


def verify(files: list[str]) -> int:
    from veokit.media.probe import Expectation, verify_mp4

    for f in files:
        verify_mp4(f, Expectation(width=1280, height=720, duration_s=4.0))
    return len(files)


def worker_cpu(row: dict[str, Any], jobs: int) -> float:
    return float(row["cpu_s"] - row["cpu_enqueue_s"]) / jobs


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100, help="jobs in flight: worker slots / SDK threads")
    ap.add_argument("--scale", type=float, default=60.0, help="Veo latency and poll intervals divided by this")
    ap.add_argument("--database-url", help="veokit's store (default: a fresh SQLite file); a DISPOSABLE database")
    ap.add_argument("--sides", default="veokit,floor", help="Comma-separated, in order: veokit, floor, sdk")
    ap.add_argument("--only", choices=SIDES, help="Run one side only")
    ap.add_argument("--child", choices=SIDES)
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        if args.child == "veokit":
            row = child_veokit(args.base, Path(args.out), args.jobs, args.concurrency, args.scale, args.database_url)
        elif args.child == "floor":
            row = child_floor(args.base, Path(args.out), args.jobs, args.concurrency, args.scale)
        else:
            row = child_sdk(args.base, Path(args.out), args.jobs, args.concurrency, args.scale)
        print(json.dumps(row))
        return 0

    lo, hi = (v / args.scale for v in VEO_LATENCY_S)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    storage = Path(tempfile.gettempdir()) / "veokit-bench-emulator"
    emu = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veokit.cli.main",
            "emulator",
            "--port",
            str(port),
            "--latency-range",
            f"{lo:.3f}",
            f"{hi:.3f}",
            "--storage-dir",
            str(storage),
            "--seed",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = {}
    sides = [args.only] if args.only else [w.strip() for w in args.sides.split(",")]
    try:
        wait_up(base)
        for who in sides:
            print(f"running {args.jobs} jobs through {who} (concurrency {args.concurrency}) ...", file=sys.stderr)
            rows[who] = run_side(who, base, args)
    finally:
        emu.terminate()
        emu.wait(10)

    mb = 1024 * 1024
    print(
        f"\n{args.jobs} jobs, concurrency {args.concurrency}, emulator latency U({lo:.2f}, {hi:.2f}) s "
        f"(Veo's 11-360 s / {args.scale:g}); same emulator, separate client processes, one after another\n"
    )
    header = (
        f"{'client':<30}{'CPU/job':>9}{'ratio':>7}{'load avg':>10}{'makespan':>10}{'polls/job':>11}{'lag p50':>9}"
        f"{'lag p95':>9}{'peak RSS':>10}{'RSS/in-flight':>15}{'in flight':>11}{'videos ok':>11}"
    )
    print(header)
    labels = {
        "veokit": "veokit worker (1 process)",
        "floor": "floor (aiohttp, 5 commits)",
        "sdk": f"SDK quickstart ({args.concurrency} threads)",
    }
    floor_cpu = rows["floor"]["cpu_s"] / args.jobs if "floor" in rows else None
    for who, r in rows.items():
        per_job = (r["rss_peak"] - r["rss_base"]) / max(r["peak_in_flight"], 1)
        cpu = r["cpu_s"] / args.jobs
        ratio = f"{cpu / floor_cpu:.2f}x" if floor_cpu else "-"
        load = r["load"]
        print(
            f"{labels[who]:<30}{cpu * 1000:>6.1f} ms{ratio:>7}{statistics.mean(load):>5.1f}-{max(load):<4.1f}"
            f"{r['makespan_s']:>9.1f}s{r['polls'] / args.jobs:>11.1f}"
            f"{pct(r['lags'], 50) * 1000:>7.0f}ms{pct(r['lags'], 95) * 1000:>7.0f}ms"
            f"{r['rss_peak'] / mb:>7.0f} MB{per_job / 1024:>12.1f} KB{r['peak_in_flight']:>11}"
            f"{r['verified']:>6}/{args.jobs}"
        )
    print("\n(CPU/job: user+system seconds of the client process over its run / jobs; load avg: mean-max of the")
    print(" 1-minute load average sampled each second while that side ran.)")
    for who, r in rows.items():
        print(
            f"{who}: {r['submits']} submits counted by the emulator, {r['verified']} valid videos"
            + (
                f"; enqueueing took {r['enqueue_s']:.1f} s ({r['cpu_enqueue_s'] / args.jobs * 1000:.1f} ms CPU/job)"
                f" before the makespan started; the worker alone: {worker_cpu(r, args.jobs) * 1000:.1f} ms CPU/job"
                + (f" ({worker_cpu(r, args.jobs) / floor_cpu:.2f}x the floor)" if floor_cpu else "")
                if who == "veokit"
                else ""
            )
        )
        if who == "floor" and r.get("decode_cpu_s"):
            # The floor verifies as veokit does (end frames decoded); its cost without that, for comparison.
            bare = (r["cpu_s"] - r["decode_cpu_s"]) / args.jobs
            line = f"floor: {r['decode_cpu_s'] / args.jobs * 1000:.1f} ms CPU/job decoding end frames; without"
            line += f" that (a box walk only) {bare * 1000:.1f} ms/job"
            if "veokit" in rows:
                line += f", the veokit worker alone {worker_cpu(rows['veokit'], args.jobs) / bare:.2f}x that"
            print(line)
        if r["submits"] != args.jobs or r["verified"] != args.jobs:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
