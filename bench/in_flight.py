"""Issue 11, target 2: 10,000 jobs in flight in one worker process, vs the floor, against one emulator.

The emulator takes a long time per generation (``--latency``, default 900 s), so no job finishes during the
measurement: every job that was submitted stays in flight, polling on its model's schedule. Each side runs in a
fresh process, one after the other, against the same emulator (reset in between):

* floor: ``bench/floor_client.py`` with every job in flight at once (aiohttp, one coroutine per job, five
  durable SQLite commits per job, no veokit code) over as many connections as veokit's pool;
* veokit: N jobs recorded by ``VeoClient.enqueue_batch`` in a separate process beforehand (target 3 measures
  that), then one ``Worker`` with ``concurrency=N`` as shipped, on a SQLite store;
* before (``--before-src DIR``): the same veokit side with another tree's ``src/`` first on ``sys.path`` (main's,
  extracted with ``git archive``), so the change is measured before/after in the same run.

Reported per side: seconds from the start until all N jobs were submitted (the emulator's count) and polling
(past the recorded operation name), or how many were by the ramp limit (``--ramp-limit``); peak in flight; then,
over a ``--hold`` window with every job polling: polls made (the emulator's count), CPU per poll (user + system
of the client over the window / polls), and RSS per in-flight job (RSS at the end of the window minus the
process's RSS before its first job, / jobs in flight). The 1-minute load average is printed beside each side.

    nice uv run --group test python bench/in_flight.py                          # 10,000 jobs, floor then veokit
    nice uv run --group test python bench/in_flight.py --jobs 1000 --hold 15    # a quick check
    git archive main src | tar -x -C /tmp/main-src && nice uv run --group test python bench/in_flight.py \\
        --before-src /tmp/main-src/src                                          # before/after in one run

Also reported: the cyclic collector's CPU per generation over the ramp and the hold (``gc.callbacks``; the
worker's settings are in ``veokit.engine.gc_policy``). Experiments, veokit side only: ``BENCH_MAX_STARTING=N``
overrides ``WorkerConfig.max_starting``; ``BENCH_GC="freeze;threshold=a,b,c"`` applies collector settings first.

``--scale`` divides the poll schedule (1 = Veo's real one: first poll at 11 s, intervals growing to 20 s).
Exit status is non-zero when a side does not reach N jobs polling, or the emulator counted more submits than
jobs (paying twice).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import LoadSampler, emulated_vertex, free_port, rss, wait_up  # bench/ is on sys.path when run as a script

from veokit.providers.http import POOL_CONNECTIONS

MODEL = "veo-3.1-fast-generate-001"
PROMPTS = ["a paper boat on a pond", "neon rain on a night street", "a fox in fresh snow", "a lighthouse at dusk"]
CATALOG_LATENCY_S = (11.0, 45.0, 300.0)  # the catalog's [min, typical, max] for MODEL: the floor polls on it
SIDES = ["floor", "before", "veokit"]
# The floor's connections, as many as veokit's pool (providers/http.py): thousands of sockets to one server is
# not what either client should do (the emulator resets connections well before 1,000).
CONNECTIONS = POOL_CONNECTIONS


class GcTimer:
    """Time the cyclic collector takes in this process (``gc.callbacks``), per generation: with thousands of
    jobs in flight each full collection walks every live coroutine, so it is reported beside CPU per start."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._t = 0.0
        gc.callbacks.append(self._on)

    def _on(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._t
            self.count[info["generation"]] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "gc_s": [round(s, 3) for s in self.seconds],
            "gc_n": list(self.count),
            "tracked": len(gc.get_objects()),
            "frozen": gc.get_freeze_count(),
        }


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def emulator_stats(base: str) -> dict[str, Any]:
    import httpx

    return dict(httpx.get(f"{base}/_emulator/stats", timeout=60).json())


async def measure(
    base: str,
    jobs: int,
    polling: Callable[[], int],
    in_flight: Callable[[], int],
    *,
    rss0: int,
    ramp_limit_s: float,
    hold_s: float,
) -> dict[str, Any]:
    """Watch a side already started: the ramp to ``jobs`` polling, then a hold window at full load."""
    t0, cpu0 = time.monotonic(), cpu_s()
    gc_timer = GcTimer()
    peak, reached = 0, None
    while time.monotonic() - t0 < ramp_limit_s:
        peak = max(peak, in_flight())
        if polling() >= jobs:
            reached = time.monotonic() - t0
            break
        await asyncio.sleep(0.25)
    row: dict[str, Any] = {
        "ramp_s": reached,
        "polling_at_limit": polling(),
        "ramp_cpu_s": cpu_s() - cpu0,
        "ramp_submits": (await asyncio.to_thread(emulator_stats, base))["submits_total"],
        "ramp_gc": gc_timer.snapshot(),
    }
    stats0 = await asyncio.to_thread(emulator_stats, base)
    cpu1, t1 = cpu_s(), time.monotonic()
    while time.monotonic() - t1 < hold_s:
        peak = max(peak, in_flight())
        await asyncio.sleep(0.25)
    stats1 = await asyncio.to_thread(emulator_stats, base)
    row.update(
        hold_s=time.monotonic() - t1,
        hold_cpu_s=cpu_s() - cpu1,
        hold_polls=stats1["polls"] - stats0["polls"],
        submits=stats1["submits_total"],
        rss_growth=rss() - rss0,
        in_flight_end=in_flight(),
        peak_in_flight=max(peak, in_flight()),
        gc=gc_timer.snapshot(),
    )
    return row


# -- the floor ------------------------------------------------------------------------------------------
def child_floor(base: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    import floor_client

    async def go() -> dict[str, Any]:
        counts = {"in_flight": 0, "polling": 0}
        rss0 = rss()
        run = asyncio.create_task(
            floor_client.run(
                base,
                out,
                model=MODEL,
                prompts=PROMPTS,
                jobs=args.jobs,
                concurrency=args.jobs,
                latency_s=CATALOG_LATENCY_S,
                scale=args.scale,
                counts=counts,
                connections=CONNECTIONS,
            )
        )
        row = await measure(
            base,
            args.jobs,
            lambda: counts["polling"],
            lambda: counts["in_flight"],
            rss0=rss0,
            ramp_limit_s=args.ramp_limit,
            hold_s=args.hold,
        )
        if run.done():  # a job failed, so the whole run stopped: that is a bench failure, not a figure
            run.result()
        run.cancel()
        return row

    return asyncio.run(go())


# -- veokit ---------------------------------------------------------------------------------------------
def settings_for(base: str, out: Path, scale: float) -> Any:
    return emulated_vertex(
        base,
        out,
        poll_scale=1 / scale,
        rate_limit="off",
        job_deadline_s=86_400,
    )


def child_enqueue(base: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    from veokit.service import VeoClient
    from veokit.service.batch import read_batch

    batch = out / "batch.jsonl"
    with batch.open("w") as fh:
        for i in range(args.jobs):
            fh.write(json.dumps({"prompt": f"{PROMPTS[i % len(PROMPTS)]} #{i}", "duration": 4, "model": MODEL}))
            fh.write("\n")

    async def go() -> dict[str, Any]:
        async with VeoClient(settings_for(base, out, args.scale)) as veo:
            t0, cpu0 = time.monotonic(), cpu_s()
            done = await veo.enqueue_batch(read_batch(batch), source=batch.name)
            return {"enqueue_s": time.monotonic() - t0, "enqueue_cpu_s": cpu_s() - cpu0, "new": done.new}

    return asyncio.run(go())


def child_veokit(base: str, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    from veokit.service import VeoClient, WorkerConfig

    async def go() -> dict[str, Any]:
        async with VeoClient(settings_for(base, out, args.scale)) as veo:
            # As shipped unless BENCH_MAX_STARTING says otherwise (an experiment).
            starting = os.environ.get("BENCH_MAX_STARTING")
            config = WorkerConfig(concurrency=args.jobs, lease_s=30, idle_s=0.05)
            if starting:
                config = dataclasses.replace(config, max_starting=int(starting))
            worker = veo.worker(config)

            def polling() -> int:
                if hasattr(worker, "polling"):
                    return int(worker.polling)
                # A tree from before Worker.polling existed (--before-src): count as it did.
                return sum(r.polling for r in worker._running.values())

            rss0 = rss()
            how = os.environ.get("BENCH_GC", "")  # an experiment: "freeze" and/or "threshold=a,b,c"
            for part in filter(None, how.split(";")):
                if part == "freeze":
                    gc.freeze()
                elif part.startswith("threshold="):
                    gc.set_threshold(*(int(x) for x in part.removeprefix("threshold=").split(",")))
            run = asyncio.create_task(worker.run())
            row = await measure(
                base,
                args.jobs,
                polling,
                lambda: worker.in_flight,
                rss0=rss0,
                ramp_limit_s=args.ramp_limit,
                hold_s=args.hold,
            )
            t_stop, cpu_stop = time.monotonic(), cpu_s()
            worker.stop()  # releases every lease: how long a worker with N in flight takes to stop
            try:
                await asyncio.wait_for(run, timeout=args.ramp_limit)
                row["stop_s"] = time.monotonic() - t_stop
            except TimeoutError:
                row["stop_s"] = None
            row["stop_cpu_s"] = cpu_s() - cpu_stop
            return row

    return asyncio.run(go())


# -- the parent -----------------------------------------------------------------------------------------
def child(who: str, base: str, out: str, args: argparse.Namespace, src: str | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--child", who, "--base", base, "--out", out]
    cmd += ["--jobs", str(args.jobs), "--scale", str(args.scale), "--hold", str(args.hold)]
    cmd += ["--ramp-limit", str(args.ramp_limit)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if p.returncode != 0:
        print(p.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{who} run failed")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def run_side(who: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    httpx.post(f"{base}/_emulator/reset", timeout=60).raise_for_status()
    src = args.before_src if who == "before" else None
    with tempfile.TemporaryDirectory(prefix=f"veokit-inflight-{who}-") as out:
        row: dict[str, Any] = {}
        if who != "floor":
            row.update(child("enqueue", base, out, args, src))
            httpx.post(f"{base}/_emulator/reset", timeout=60).raise_for_status()
        load = LoadSampler()
        row.update(child("veokit" if who == "before" else who, base, out, args, src))
        row["load"] = load.stop()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--scale", type=float, default=1.0, help="poll schedule divided by this (1: Veo's real one)")
    ap.add_argument("--latency", type=float, default=900.0, help="emulated seconds per generation")
    ap.add_argument("--hold", type=float, default=30.0, help="seconds measured with every job polling")
    ap.add_argument("--ramp-limit", type=float, default=240.0, help="give up waiting for N polling after this")
    ap.add_argument("--sides", default="floor,veokit", help="comma-separated, in order: floor, before, veokit")
    ap.add_argument("--before-src", help="a src/ directory of veokit to run as the 'before' side")
    ap.add_argument("--child", choices=[*SIDES, "enqueue"])
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.child:
        children: dict[str, Callable[[str, Path, argparse.Namespace], dict[str, Any]]] = {
            "floor": child_floor,
            "veokit": child_veokit,
            "enqueue": child_enqueue,
        }
        print(json.dumps(children[args.child](args.base, Path(args.out), args)))
        return 0
    sides = [s.strip() for s in args.sides.split(",")]
    if "before" in sides and not args.before_src:
        ap.error("--sides before needs --before-src")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    emu = subprocess.Popen(
        [sys.executable, "-m", "veokit.cli.main", "emulator", "--port", str(port), "--latency", str(args.latency)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows: dict[str, dict[str, Any]] = {}
    try:
        wait_up(base)
        for who in sides:
            print(f"{who}: {args.jobs} jobs in flight ...", file=sys.stderr)
            rows[who] = run_side(who, base, args)
            print(f"{who}: {json.dumps(rows[who])}", file=sys.stderr)
    finally:
        emu.terminate()
        emu.wait(30)

    print(
        f"\n{args.jobs} jobs, all in flight at once; emulator latency {args.latency:g} s (none finishes); "
        f"poll schedule / {args.scale:g}; one client process per side, one after another\n"
    )
    print(
        f"{'side':<9}{'all polling':>13}{'peak in flight':>16}{'hold polls':>12}{'CPU/poll':>10}"
        f"{'RSS/in-flight':>15}{'CPU/start':>11}{'submits':>9}{'load avg':>11}{'stop':>8}"
    )
    failed = False
    for who, r in rows.items():
        ramp = f"{r['ramp_s']:.1f} s" if r["ramp_s"] is not None else f"{r['polling_at_limit']} by limit"
        per_poll = r["hold_cpu_s"] / r["hold_polls"] * 1000 if r["hold_polls"] else float("nan")
        per_job = r["rss_growth"] / max(r["in_flight_end"], 1) / 1024
        load = r["load"]
        stop = "-" if "stop_s" not in r else "timed out" if r["stop_s"] is None else f"{r['stop_s']:.1f} s"
        print(
            f"{who:<9}{ramp:>13}{r['peak_in_flight']:>16}{r['hold_polls']:>12}{per_poll:>7.2f} ms"
            f"{per_job:>12.1f} KB{r['ramp_cpu_s'] / max(r['ramp_submits'], 1) * 1000:>8.1f} ms{r['submits']:>9}"
            f"{statistics.mean(load):>6.1f}-{max(load):<4.1f}{stop:>8}"
        )
        failed |= r["ramp_s"] is None or r["submits"] > args.jobs
    for who, r in rows.items():
        if "enqueue_s" in r:
            print(f"{who}: enqueueing {r['new']} jobs took {r['enqueue_s']:.1f} s ({r['enqueue_cpu_s']:.1f} s CPU)")
    print(
        "\n(all polling: from the first job until every job had its operation recorded and was polling; hold: "
        f"{args.hold:g} s with all in flight; CPU/poll: client CPU over the hold / polls the emulator answered; "
        "RSS/in-flight: RSS growth since before the first job / jobs in flight; CPU/start: client CPU until all "
        "were polling (or the limit) / jobs submitted by then, polls of the early jobs included; stop: "
        "worker.stop() with all in flight until every lease was released)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
