"""Many jobs at once: veokit's worker vs the google-genai SDK quickstart pattern, same emulator, same concurrency.

Both sides run N jobs (default 1,000) against one `veokit emulator` process whose generation latency is drawn
uniformly from Veo's real range scaled down 60x (11-360 s -> 0.18-6 s). Each side runs in a fresh subprocess:

* veokit: the jobs are enqueued in a SQLite store, then one in-process `Worker` with ``--concurrency`` slots
  runs them (async polling on veokit's schedule, scaled by the same factor: ``VEOKIT_POLL_SCALE=1/60``);
* SDK: the quickstart loop (``generate_videos``; ``while not op.done: time.sleep(10); operations.get(op)``;
  save the video) with the sleep scaled by the same factor, run in a thread pool of the same size.

Reported: makespan; polls per job (the emulator's count); completion-noticed lag (when the client learned a
result was ready minus when the emulator made it ready) p50/p95; peak RSS; RSS growth per in-flight job
(peak growth over the post-warm-up baseline / peak jobs in flight). Every video is verified afterwards.

    uv run --group test python bench/orchestration.py [--jobs 1000] [--concurrency 100] [--scale 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import PeakSampler, free_port, wait_up  # bench/ is on sys.path when run as a script

MODEL = "veo-3.1-fast-generate-001"
PROMPTS = ["a paper boat on a pond", "neon rain on a night street", "a fox in fresh snow", "a lighthouse at dusk"]
VEO_LATENCY_S = (11.0, 360.0)
QUICKSTART_SLEEP_S = 10.0


# -- veokit ---------------------------------------------------------------------------------------------
def child_veokit(
    base: str, out: Path, jobs: int, concurrency: int, scale: float, database_url: str | None = None
) -> dict[str, Any]:
    import asyncio

    from veokit.config import Settings
    from veokit.models.job import JobState
    from veokit.models.request import GenerateRequest
    from veokit.service import VeoClient, WorkerConfig

    settings = Settings(
        provider="vertex",
        vertex_base_url=base,
        vertex_project="bench",
        vertex_access_token="test-token",
        out_dir=out,
        database_url=database_url or f"sqlite:///{out / 'jobs.db'}",
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
            sampler = PeakSampler(0.005)
            t0 = time.time()
            # As shipped (max_starting and all); drain: return once every job has ended.
            worker = veo.worker(WorkerConfig(concurrency=concurrency, lease_s=30, idle_s=0.05, drain=True))
            stats = await worker.run()
            makespan = time.time() - t0
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
            "rss_base": sampler.baseline,
            "rss_peak": sampler.peak,
            "peak_in_flight": stats.peak_in_flight,
            "noticed": noticed,
            "states": {s: sum(j.state.value == s for j in done) for s in {j.state.value for j in done}},
            "files": [r.path for j in done for r in j.results],
        }

    return asyncio.run(go())


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
    sampler = PeakSampler(0.005)
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(jobs)))
    makespan = time.time() - t0
    sampler.stop()
    return {
        "makespan_s": makespan,
        "enqueue_s": 0.0,
        "rss_base": sampler.baseline,
        "rss_peak": sampler.peak,
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
        if p.returncode != 0:
            print(p.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"{who} run failed")
        row: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
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


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=100, help="jobs in flight: worker slots / SDK threads")
    ap.add_argument("--scale", type=float, default=60.0, help="Veo latency and poll intervals divided by this")
    ap.add_argument("--database-url", help="veokit's store (default: a fresh SQLite file); a DISPOSABLE database")
    ap.add_argument("--only", choices=["veokit", "sdk"], help="Run one side only")
    ap.add_argument("--child", choices=["veokit", "sdk"])
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        if args.child == "veokit":
            row = child_veokit(args.base, Path(args.out), args.jobs, args.concurrency, args.scale, args.database_url)
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
    try:
        wait_up(base)
        for who in [args.only] if args.only else ["veokit", "sdk"]:
            print(f"running {args.jobs} jobs through {who} (concurrency {args.concurrency}) ...", file=sys.stderr)
            rows[who] = run_side(who, base, args)
    finally:
        emu.terminate()
        emu.wait(10)

    mb = 1024 * 1024
    print(
        f"\n{args.jobs} jobs, concurrency {args.concurrency}, emulator latency U({lo:.2f}, {hi:.2f}) s "
        f"(Veo's 11-360 s / {args.scale:g}); same emulator, separate client processes\n"
    )
    header = (
        f"{'client':<30}{'makespan':>10}{'polls/job':>11}{'lag p50':>10}{'lag p95':>10}{'peak RSS':>11}"
        f"{'RSS/in-flight job':>19}{'in flight':>11}{'videos ok':>11}"
    )
    print(header)
    labels = {"veokit": "veokit worker (1 process)", "sdk": f"SDK quickstart ({args.concurrency} threads)"}
    for who, r in rows.items():
        per_job = (r["rss_peak"] - r["rss_base"]) / max(r["peak_in_flight"], 1)
        print(
            f"{labels[who]:<30}{r['makespan_s']:>9.1f}s{r['polls'] / args.jobs:>11.1f}"
            f"{pct(r['lags'], 50) * 1000:>8.0f}ms{pct(r['lags'], 95) * 1000:>8.0f}ms"
            f"{r['rss_peak'] / mb:>8.0f} MB{per_job / 1024:>16.1f} KB{r['peak_in_flight']:>11}"
            f"{r['verified']:>6}/{args.jobs}"
        )
    for who, r in rows.items():
        print(
            f"{who}: {r['submits']} submits counted by the emulator, {r['verified']} valid videos"
            + (f"; enqueueing took {r['enqueue_s']:.1f} s before the makespan started" if who == "veokit" else "")
        )
        if r["submits"] != args.jobs or r["verified"] != args.jobs:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
