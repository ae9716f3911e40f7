"""Client CPU per request of the HTTP stack alone: veokit's seam as shipped (httpx's client over an aiohttp
transport), the same seam on httpx's own transport at several pool sizes, and raw aiohttp.

Issue 11, target 6: choose the HTTP stack by measurement. One emulator process; this process runs C tasks, each
sending R small requests one after another (``GET /_emulator/health``, a short pause between them, as polls
are), first through ``providers.http.call_json`` on a ``new_client()`` (the shipped pool), then through the same
seam on an ``httpx.AsyncClient`` with httpx's own transport holding N connections (the stack before issue 11),
then through one aiohttp session. Reported: user + system CPU of this process per request (the emulator's CPU is
not counted), and wall time. A warm-up round precedes each measured round.

    uv run --group test python bench/http_stack.py [--tasks 100] [--requests 20] [--pools 100,16,8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from _common import free_port, wait_up  # bench/ is on sys.path when run as a script

PAUSE_S = 0.01


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def measure(tasks: int, requests: int, send: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    async def one() -> None:
        for _ in range(requests):
            await send()
            await asyncio.sleep(PAUSE_S)

    await asyncio.gather(*(one() for _ in range(tasks)))  # warm-up: connections open, code paths hot
    c0, t0 = cpu_s(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(tasks)))
    return (cpu_s() - c0) / (tasks * requests), time.perf_counter() - t0


async def veokit_seam(url: str, tasks: int, requests: int, pool: int, *, shipped: bool) -> tuple[float, float]:
    import httpx

    from veokit.providers import http

    http.POOL_CONNECTIONS = pool  # what the shipped constant would be; read by new_client and the pool gate
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    client = http.new_client() if shipped else httpx.AsyncClient(limits=limits, timeout=60.0)
    try:
        return await measure(tasks, requests, lambda: http.call_json(client, "GET", url, provider="bench", headers={}))
    finally:
        await client.aclose()


async def aiohttp_raw(url: str, tasks: int, requests: int, pool: int) -> tuple[float, float]:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool)) as session:

        async def send() -> None:
            async with session.get(url) as resp:
                await resp.json()

        return await measure(tasks, requests, send)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100, help="requests in flight at once")
    ap.add_argument("--requests", type=int, default=20, help="requests per task per round")
    ap.add_argument("--pools", default="100,16,8", help="connection pool sizes to try (comma-separated)")
    args = ap.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    emu = subprocess.Popen(
        [sys.executable, "-m", "veokit.cli.main", "emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"{base}/_emulator/health"
    pools = [int(p) for p in args.pools.split(",")]
    try:
        wait_up(base)
        print(f"{args.tasks} tasks x {args.requests} requests, load average {os.getloadavg()[0]:.1f} at start")
        print(f"{'client':<44}{'CPU/request':>13}{'wall':>9}")
        cpu, wall = asyncio.run(veokit_seam(url, args.tasks, args.requests, max(pools), shipped=True))
        print(f"{f'veokit seam as shipped, pool {max(pools)}':<44}{cpu * 1000:>10.2f} ms{wall:>8.1f}s", flush=True)
        for pool in pools:
            cpu, wall = asyncio.run(veokit_seam(url, args.tasks, args.requests, pool, shipped=False))
            print(
                f"{f'veokit seam on httpx transport, pool {pool}':<44}{cpu * 1000:>10.2f} ms{wall:>8.1f}s", flush=True
            )
        cpu, wall = asyncio.run(aiohttp_raw(url, args.tasks, args.requests, max(pools)))
        print(f"{f'aiohttp alone, pool {max(pools)}':<44}{cpu * 1000:>10.2f} ms{wall:>8.1f}s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        emu.terminate()
        emu.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
