"""Issue 11, target 5: one provider quota shared by 1, 2 and 4 worker processes on one PostgreSQL store.

One emulator with ``--quota Q/min`` and a short generation (``--latency``). For each worker count W: a fresh
PostgreSQL database, N jobs enqueued (``VeoClient.enqueue_batch``), then W worker processes, each configured
with the whole quota (``VEOKIT_RATE_LIMIT=Q/min``, not Q/W: the limit is per provider across the store's
workers). Workers start, open their store and connect, then all are released at once; the makespan runs from
that moment to the last job's ``finished_at``. Reported beside it: the bound N/Q + latency, the ratio (target
≤ 1.05), the emulator's 429 count (target 0), submits (exactly N: nothing paid twice), each worker's share of
the jobs, and the load average during the run.

    nice uv run --group test python bench/shared_rate_limit.py                      # Q=120/min, N=120, 1/2/4 workers
    nice uv run --group test python bench/shared_rate_limit.py --quota 60 --jobs 60 --workers 4
    nice uv run --group test python bench/shared_rate_limit.py --pg-url postgresql://u@host/db

Without ``--pg-url`` (or ``VEOKIT_BENCH_PG_URL``) a private PostgreSQL cluster is started in a temporary
directory the way ``scripts/test.sh`` does it, and removed at the end; each run gets a database of its own
created on that server. Exit status is non-zero when a run leaves a job unfinished, pays twice, meets a 429,
or misses the 1.05 ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import glob
import itertools
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import LoadSampler, emulated_vertex, free_port, wait_up  # bench/ is on sys.path when run as a script

MODEL = "veo-3.1-fast-generate-001"
TARGET_RATIO = 1.05
PUSH = re.compile(r"later slots move back ([0-9.]+) s")
LEFT = re.compile(r"a request left ([0-9.]+) s after its slot")
SLOT = re.compile(r"^([0-9.]+) .*: slot -?\d+ released after waiting ([0-9.]+) s", re.M)
LAG_TICK_S = 0.05


def settings_for(base: str, out: Path, db_url: str, quota: int) -> Any:
    return emulated_vertex(
        base,
        out,
        data_dir=out / "data",
        database_url=db_url,
        rate_limit=f"{quota}/min",  # the whole quota, in every worker
        poll_scale=0.01,  # the first poll 0.11 s after the submit: the latency, not the schedule, dominates
        job_deadline_s=3_600,
    )


# -- children -------------------------------------------------------------------------------------------
def child_enqueue(args: argparse.Namespace) -> dict[str, Any]:
    from veokit.service import VeoClient
    from veokit.service.batch import read_batch

    out = Path(args.out)
    batch = out / "batch.jsonl"
    with batch.open("w") as fh:
        for _ in range(args.jobs):
            # One prompt: the emulator renders it once (its render cache), so the machine's time goes to pacing.
            fh.write(json.dumps({"prompt": "a paper boat on a pond", "duration": 4, "model": MODEL}) + "\n")

    async def go() -> dict[str, Any]:
        async with VeoClient(settings_for(args.base, out, args.db, args.quota)) as veo:
            done = await veo.enqueue_batch(read_batch(batch), source=batch.name)
            return {"new": done.new, "ids": [j.id for j in done.jobs]}

    return asyncio.run(go())


def child_worker(args: argparse.Namespace) -> dict[str, Any]:
    from veokit.service import VeoClient, WorkerConfig

    # Each submit that left later than the pacing slack says so (and how far it moved later slots): the parent
    # counts these lines on stderr.
    pacing = logging.getLogger("veokit.pacing")
    pacing.setLevel(logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(created).3f %(message)s"))  # one wall clock for every worker
    pacing.addHandler(handler)

    async def go() -> dict[str, Any]:
        async with VeoClient(settings_for(args.base, Path(args.out), args.db, args.quota)) as veo:
            await veo.list_jobs(limit=1)  # connected and migrated before the start line
            # Each worker takes its share (at most ceil(N / W) at once), so all of them pace against the quota.
            share = WorkerConfig(concurrency=args.share, lease_s=30, idle_s=0.05, drain=True)
            worker = veo.worker(share)
            print("ready", flush=True)
            await asyncio.to_thread(sys.stdin.readline)  # the parent releases every worker at once
            lags: list[float] = []
            ticker = asyncio.create_task(loop_lag(lags))
            cpu0 = time.process_time()
            stats = await worker.run()
            ticker.cancel()
            return {
                "claimed": stats.claimed,
                "finished": dict(stats.finished),
                "loop_lag_s": lags,
                "cpu_s": time.process_time() - cpu0,
            }

    return asyncio.run(go())


async def loop_lag(lags: list[float]) -> None:
    """How late this process's event loop wakes a timer: a loop starved of CPU sends late whatever the pacing."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_TICK_S
        await asyncio.sleep(LAG_TICK_S)
        lags.append(loop.time() - due)


def child_report(args: argparse.Namespace) -> dict[str, Any]:
    from veokit.service import VeoClient

    ids = json.loads(Path(args.out, "ids.json").read_text())

    async def go() -> dict[str, Any]:
        async with VeoClient(settings_for(args.base, Path(args.out), args.db, args.quota)) as veo:
            jobs = await veo.get_many(ids)
            return {
                "states": sorted({j.state.value for j in jobs}),
                "finished_at": [j.finished_at.timestamp() if j.finished_at else None for j in jobs],
                "submitted_at": [j.submitted_at.timestamp() if j.submitted_at else None for j in jobs],
                "attempts": [j.attempts for j in jobs],  # more than one: a submit refused (429) and sent again
            }

    return asyncio.run(go())


# -- the parent -----------------------------------------------------------------------------------------
def child_cmd(who: str, args: argparse.Namespace, out: str, db: str, share: int = 1) -> list[str]:
    return [
        *(sys.executable, __file__, "--child", who, "--base", args.base, "--out", out, "--db", db),
        *("--jobs", str(args.jobs), "--quota", str(args.quota), "--share", str(share)),
    ]


def run_child(who: str, args: argparse.Namespace, out: str, db: str) -> dict[str, Any]:
    p = subprocess.run(child_cmd(who, args, out, db), capture_output=True, text=True, check=False)
    if p.returncode != 0:
        print(p.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{who} failed")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


@contextlib.contextmanager
def private_postgres() -> Iterator[str]:
    """A throwaway cluster on a free loopback port, as scripts/test.sh starts one."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin")) or [os.path.dirname(shutil.which("initdb") or "")]
    pg_bin = bins[-1]
    if not os.path.exists(os.path.join(pg_bin, "initdb")):
        raise SystemExit("no PostgreSQL found: install it (apt-get install postgresql) or pass --pg-url")
    work = tempfile.mkdtemp(prefix="veokit-bench-pg-")
    as_pg: list[str] = []
    if os.getuid() == 0:
        shutil.chown(work, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = os.path.join(work, "data")
    subprocess.run(
        [*as_pg, f"{pg_bin}/initdb", "-D", data, "-U", "postgres", "-A", "trust"], check=True, capture_output=True
    )
    opts = f"-h 127.0.0.1 -p {port} -k {work} -c fsync=off -c max_connections=200"
    subprocess.run(
        [*as_pg, f"{pg_bin}/pg_ctl", "-D", data, "-l", os.path.join(work, "log"), "-w", "-o", opts, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, f"{pg_bin}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


async def create_database(server_url: str, name: str) -> str:
    import asyncpg  # the store's own driver; bench/ talks to PostgreSQL only to make a fresh database

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    head, _, _ = server_url.rpartition("/")
    return f"{head}/{name}"


def run_workers(workers: int, args: argparse.Namespace, server_url: str) -> dict[str, Any]:
    import httpx

    # The quota's window forgets the previous run's submits; the counters start from zero.
    httpx.post(f"{args.base}/_emulator/clock", json={"advance_s": 120}, timeout=60).raise_for_status()
    httpx.post(f"{args.base}/_emulator/reset", timeout=60).raise_for_status()
    db = asyncio.run(create_database(server_url, f"rate_{workers}w_{uuid.uuid4().hex[:8]}"))
    with tempfile.TemporaryDirectory(prefix=f"veokit-rate-{workers}w-") as out:
        enq = run_child("enqueue", args, out, db)
        Path(out, "ids.json").write_text(json.dumps(enq["ids"]))
        procs = [
            subprocess.Popen(
                child_cmd("worker", args, out, db, share=-(-args.jobs // workers)),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(workers)
        ]
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise SystemExit(f"a worker did not start: {p.stderr.read()[-4000:] if p.stderr else ''}")
        load = LoadSampler()
        t0 = time.time()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = []
        pushes: list[float] = []
        lateness: list[float] = []
        slots: list[tuple[float, float]] = []
        for p in procs:
            stdout, stderr = p.communicate(timeout=3_600)
            if p.returncode != 0:
                print(stderr[-4000:], file=sys.stderr)
                raise SystemExit("a worker failed")
            results.append(json.loads(stdout.strip().splitlines()[-1]))
            pushes += [float(m.group(1)) for m in PUSH.finditer(stderr)]
            lateness += [float(m.group(1)) for m in LEFT.finditer(stderr)]
            slots += [(float(m.group(1)), float(m.group(2))) for m in SLOT.finditer(stderr)]
        loads = load.stop()
        report = run_child("report", args, out, db)
    stats = httpx.get(f"{args.base}/_emulator/stats", timeout=60).json()
    finished = [t for t in report["finished_at"] if t is not None]
    submitted = sorted(t for t in report["submitted_at"] if t is not None)
    # Which submits in order were refused: the first ones (cold) or any (the machine's stalls)?
    order = sorted(range(args.jobs), key=lambda i: report["submitted_at"][i] or 0.0)
    refused = [n for n, i in enumerate(order) if report["attempts"][i] > 1]
    return {
        "workers": workers,
        "makespan_s": (max(finished) - t0) if len(finished) == args.jobs else None,
        "first_submit_s": submitted[0] - t0 if submitted else None,
        "last_submit_s": submitted[-1] - t0 if submitted else None,
        "states": report["states"],
        "claimed": [r["claimed"] for r in results],
        "submits": stats["submits_total"],
        "rate_limited": stats["rate_limited"],
        "refused_in_order": refused,
        "pushes": len(pushes),
        "pushed_s": sum(pushes),
        "largest_push_s": max(pushes, default=0.0),
        # From each slot to its submit leaving (this side's writes and a busy loop), and how late the workers'
        # event loops woke a 50 ms timer meanwhile (the machine's share, whatever the pacing).
        "late_p50_p95_max_s": quantiles(lateness),
        "loop_lag_p50_p95_max_s": quantiles([x for r in results for x in r["loop_lag_s"]]),
        "worker_cpu_s": round(sum(r["cpu_s"] for r in results), 1),
        **slips(slots, 60 / args.quota * 1.02),
        "load": loads,
    }


def slips(slots: list[tuple[float, float]], gap: float) -> dict[str, float]:
    """Where the schedule lost time, from each slot's release (wall clock) and its wait: a step between consecutive
    releases longer than the gap either came after a wait (the slot was set later: a push or hold after a late
    departure) or after none (the slot was already due when taken: the taker came late, e.g. a busy loop)."""
    held = idle = 0.0
    ordered = sorted((t + w, w) for t, w in slots)  # released = logged (at the take) + the wait
    for (before, _), (after, wait) in itertools.pairwise(ordered):
        over = max(0.0, after - before - gap)
        if wait > 0:
            held += over
        else:
            idle += over
    return {"slip_after_wait_s": round(held, 2), "slip_taken_late_s": round(idle, 2)}


def quantiles(xs: list[float]) -> list[float]:
    if not xs:
        return [0.0, 0.0, 0.0]
    xs = sorted(xs)
    return [round(xs[len(xs) // 2], 3), round(xs[int(len(xs) * 0.95)], 3), round(xs[-1], 3)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quota", type=int, default=120, help="the emulator's quota and veokit's rate, per minute")
    ap.add_argument("--jobs", type=int, default=120)
    ap.add_argument("--latency", type=float, default=2.0, help="emulated seconds per generation")
    ap.add_argument("--workers", default="1,2,4", help="comma-separated worker counts, one run each")
    ap.add_argument("--pg-url", default=os.environ.get("VEOKIT_BENCH_PG_URL"), help="a PostgreSQL server to use")
    ap.add_argument("--child", choices=["enqueue", "worker", "report"])
    ap.add_argument("--base")
    ap.add_argument("--out")
    ap.add_argument("--db")
    ap.add_argument("--share", type=int, default=1)
    args = ap.parse_args()
    if args.child:
        children = {"enqueue": child_enqueue, "worker": child_worker, "report": child_report}
        print(json.dumps(children[args.child](args)))
        return 0

    port = free_port()
    args.base = f"http://127.0.0.1:{port}"
    emu = subprocess.Popen(
        [
            *(sys.executable, "-m", "veokit.cli.main", "emulator", "--port", str(port)),
            *("--latency", str(args.latency), "--quota", f"{args.quota}/min"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        wait_up(args.base)
        with contextlib.ExitStack() as stack:
            server = args.pg_url or stack.enter_context(private_postgres())
            for workers in (int(w) for w in args.workers.split(",")):
                print(f"{workers} worker(s): {args.jobs} jobs at {args.quota}/min ...", file=sys.stderr)
                rows.append(run_workers(workers, args, server))
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "load"}), file=sys.stderr)
    finally:
        emu.terminate()
        emu.wait(30)

    bound = args.jobs / args.quota * 60 + args.latency
    print(
        f"\n{args.jobs} jobs; emulator quota {args.quota}/min per credential, latency {args.latency:g} s; "
        f"every worker set to VEOKIT_RATE_LIMIT={args.quota}/min; one PostgreSQL store; "
        f"bound N/Q + latency = {bound:.1f} s ({dt.date.today()})\n"
    )
    print(
        f"{'workers':<9}{'makespan':>10}{'ratio':>8}{'429s':>6}{'submits':>9}{'first submit':>14}"
        f"{'then to last finish':>21}{'late pushes':>22}{'jobs per worker':>22}{'load avg':>11}"
    )
    failed = False
    for r in rows:
        span = r["makespan_s"]
        ratio = span / bound if span is not None else float("nan")
        shares = "/".join(str(c) for c in r["claimed"])
        first = r["first_submit_s"]
        pushed = f"{r['pushes']}: {r['pushed_s']:.1f} s (max {r['largest_push_s']:.1f})"
        paced = f"{span - first:.1f} s ({(span - first) / bound:.3f})" if span is not None and first else "-"
        print(
            f"{r['workers']:<9}{(f'{span:.1f} s' if span is not None else 'unfinished'):>10}{ratio:>8.3f}"
            f"{r['rate_limited']:>6}{r['submits']:>9}{(f'{first:.1f} s' if first else '-'):>14}{paced:>21}"
            f"{pushed:>22}{shares:>22}{statistics.mean(r['load']):>6.1f}-{max(r['load']):<4.1f}"
        )
        failed |= span is None or ratio > TARGET_RATIO or r["rate_limited"] > 0 or r["submits"] != args.jobs
    print(
        "\n(makespan: from releasing the workers, all started and connected, to the last job's finished_at; "
        "ratio: makespan / bound, target <= 1.05; 429s: submits the emulator refused; first submit: from the "
        "release to the first job's submitting (the workers' first claim, cold); then to last finish: the rest of "
        "the makespan, and its ratio to the bound; late pushes: submits that left later than the pacing slack "
        "after their slot, and how far they moved later slots in all (the largest alone); load avg: 1-minute, "
        "mean-max during the run)"
    )
    print(
        f"\n{'workers':<9}{'slot to send p50/p95/max':>28}{'loop lag p50/p95/max':>26}{'worker CPU':>12}"
        f"{'slip: held':>12}{'taken late':>12}"
    )
    for r in rows:
        late = "/".join(f"{x:.3f}" for x in r["late_p50_p95_max_s"])
        lag = "/".join(f"{x:.3f}" for x in r["loop_lag_p50_p95_max_s"])
        print(
            f"{r['workers']:<9}{late + ' s':>28}{lag + ' s':>26}{r['worker_cpu_s']:>10.1f} s"
            f"{r['slip_after_wait_s']:>10.1f} s{r['slip_taken_late_s']:>10.1f} s"
        )
    print(
        "(slot to send: from each submit's slot to its request leaving, every submit; loop lag: how late the "
        f"workers' event loops woke a {LAG_TICK_S * 1000:g} ms timer during the run; worker CPU: all workers' "
        "CPU seconds in the run; slip: the time the slots' schedule lost beyond one gap per slot, set later "
        "after a late departure (held: a push or a hold) or already due when the next taker came (taken late))"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
