"""`veokit serve` under load: create latency, status and list throughput at C concurrent clients on loopback.

One `veokit serve --no-run` process (uvicorn, one event loop) on a SQLite store, with the in-process emulator as
its provider; jobs are only recorded (no worker runs them), so what is measured is the API itself: bearer-key
check, validation and pricing, the per-key admission check and insert in one transaction, and reads of the
key's own videos. C asyncio clients (httpx, one connection each) run in this process, on the same 2 cores.

Baseline, measured in the same run against the same process: ``GET /healthz`` (routing, middleware and the
access log, no key and no store), so each figure reads as a fraction of what the server does for free.

Reported: create p50/p99 latency (N creates at C in flight, OpenAI's form body); requests per second for
``GET /v1/videos/{id}`` (a random one of the key's), ``GET /v1/videos?limit=20`` and the baseline, each for
``--seconds`` at C in flight; errors (anything but 200) must be 0.

    uv run --group test python bench/server_load.py [--clients 100] [--creates 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import free_port  # bench/ is on sys.path when run as a script

VEOKIT = [sys.executable, "-m", "veokit.cli.main"]


def environment(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_", "VEOKIT_"))}
    return {
        **keep,
        "VEOKIT_PROVIDER": "emulator",
        "VEOKIT_DATABASE_URL": f"sqlite:///{tmp / 'jobs.db'}",
        "VEOKIT_DATA_DIR": str(tmp / "data"),
        "VEOKIT_OUT_DIR": str(tmp / "videos"),
        "VEOKIT_CONFIG": str(tmp / "none.toml"),
        "VEOKIT_SERVER_KEY_MAX_IN_FLIGHT": "1000000",
    }


def make_key(env: dict[str, str], tmp: Path) -> str:
    made = subprocess.run(
        [*VEOKIT, "keys", "create", "bench"], env=env, cwd=tmp, capture_output=True, text=True, check=True
    )
    return made.stdout.strip().splitlines()[-1]


def start_server(env: dict[str, str], tmp: Path, port: int) -> subprocess.Popen[bytes]:
    log = (tmp / "serve.log").open("ab")
    proc = subprocess.Popen(
        [*VEOKIT, "serve", "--port", str(port), "--no-run"], env=env, cwd=tmp, stdout=log, stderr=log
    )
    for _ in range(1200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit((tmp / "serve.log").read_text())
        time.sleep(0.1)
    raise SystemExit("veokit serve did not start")


async def creates(base: str, key: str, clients: int, total: int) -> tuple[list[float], list[str], int, float]:
    latencies: list[float] = []
    ids: list[str] = []
    errors = 0
    todo = iter(range(total))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=120
    ) as http:

        async def one_client() -> None:
            nonlocal errors
            for i in todo:
                form = {"prompt": f"a paper boat on a pond, take {i}", "seconds": "4", "size": "1280x720"}
                started = time.perf_counter()
                try:
                    r = await http.post("/v1/videos", data=form)
                except httpx.TransportError:  # reset or timed out: an error of the server under load, counted
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)
                if r.status_code == 200:
                    ids.append(r.json()["id"])
                else:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return latencies, ids, errors, elapsed


async def throughput(base: str, key: str, clients: int, seconds: float, paths: list[str]) -> tuple[float, int]:
    """Requests per second over ``seconds`` with ``clients`` in flight, each asking for a random one of paths."""
    done = errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=120
    ) as http:
        stop_at = time.perf_counter() + seconds
        started = time.perf_counter()

        async def one_client() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop_at:
                try:
                    r = await http.get(random.choice(paths))
                except httpx.TransportError:
                    errors += 1
                    continue
                done += 1
                errors += r.status_code != 200

        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return done / elapsed, errors


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="veokit-bench-serve-") as d:
        tmp = Path(d)
        env = environment(tmp)
        key = make_key(env, tmp)
        port = free_port()
        server = start_server(env, tmp, port)
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(creates(base, key, min(args.clients, 10), 20))  # warm-up: pools, caches, the first insert
            latencies, ids, create_errors, create_s = asyncio.run(creates(base, key, args.clients, args.creates))
            rows = [
                ("GET /healthz (baseline)", ["/healthz"]),
                ("GET /v1/videos/{id}", [f"/v1/videos/{i}" for i in ids]),
                ("GET /v1/videos?limit=20", ["/v1/videos?limit=20"]),
            ]
            rates = {
                name: asyncio.run(throughput(base, key, args.clients, args.seconds, paths)) for name, paths in rows
            }
        finally:
            server.terminate()
            server.wait(60)
    print(f"\n{args.clients} concurrent clients on loopback; veokit serve --no-run, SQLite; {len(ids)} videos\n")
    print(
        f"create  ({args.creates}): p50 {pct(latencies, 50) * 1000:7.1f} ms   p99 {pct(latencies, 99) * 1000:7.1f} ms"
        f"   {args.creates / create_s:7.0f} creates/s   errors {create_errors}"
    )
    baseline = rates["GET /healthz (baseline)"][0]
    for name, (rps, errors) in rates.items():
        print(f"{name:26s} {rps:8.0f} req/s   {rps / baseline:5.0%} of baseline   errors {errors}")


if __name__ == "__main__":
    main()
