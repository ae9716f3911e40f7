"""Input blobs: memory and speed of a 500 MB video going into the job store and out again, and what listing
jobs costs when one of them extends it (inline in the row as before 0003, vs referenced as now).

Every measurement runs in a fresh subprocess; peak RSS growth is sampled from a baseline taken after opening
the store and one small warm-up put (so imports and connection pools count against nothing).

    uv run --group test python bench/blob_memory.py [--mb 500] [--pg postgresql://…/disposable_db]

``--pg`` names a disposable PostgreSQL database (its jobs and blobs are deleted). Exit status is non-zero when a
streamed put or read grows RSS by more than --limit-mb (default 64).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

from _common import PeakSampler  # bench/ is on sys.path when run as a script

MB = 1 << 20


def piece(i: int) -> bytes:
    """1 MiB of incompressible-looking content, made on the fly (the bench never holds the whole video)."""
    return hashlib.sha256(i.to_bytes(8, "big")).digest() * (MB // 32)


def client_for(url: str) -> Any:
    from veokit import VeoClient
    from veokit.config import Settings

    return VeoClient(Settings(database_url=url, provider="emulator"))


async def record_job(client: Any, request: dict[str, Any]) -> None:
    """A queued job (no paid call) whose recorded request is then set to ``request`` directly: the bench
    measures rows of a given shape, including the pre-0003 one no current code path writes."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from veokit import GenerateRequest

    job = await client.submit(GenerateRequest(prompt="extend it", duration_seconds=4), fresh=True)
    engine = create_async_engine(async_url(client.settings.database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE jobs SET request = :r WHERE id = :id"), {"r": json.dumps(request), "id": job.id}
            )
    finally:
        await engine.dispose()


def async_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


async def child(phase: str, url: str, mb: int) -> dict[str, Any]:
    async with client_for(url) as client:
        await client.put_input(os.urandom(1000))  # warm-up: connections, statements
        await client.list_jobs(limit=1)
        if phase == "seed-inline":  # the row an extension job of a 500 MB local video was before 0003
            data = b"".join(piece(i) for i in range(mb))
            request = {"prompt": "extend it", "video": {"uri": None, "data": base64.b64encode(data).decode()}}
            del data
            await record_job(client, request)
            return {}
        sampler = PeakSampler()
        t0 = time.perf_counter()
        out: dict[str, Any] = {}
        if phase == "put":

            async def source() -> AsyncIterator[bytes]:
                for i in range(mb):
                    yield piece(i)

            ref = await client.put_input(source())
            out = {"sha256": ref.sha256, "bytes": ref.size}
        elif phase == "read":
            digest, size = hashlib.sha256(), 0
            sha = json.loads(os.environ["BENCH_SHA"])
            async for chunk in client.read_input(sha):
                digest.update(chunk)
                size += len(chunk)
            assert digest.hexdigest() == sha, "read back something else"
            out = {"bytes": size}
        elif phase == "seed-ref":
            sha = json.loads(os.environ["BENCH_SHA"])
            blob = {"sha256": sha, "size": mb * MB}
            await record_job(client, {"prompt": "extend it", "video": {"uri": None, "blob": blob}})
        elif phase == "list":
            jobs = await client.list_jobs(limit=1000)
            out = {"jobs": len(jobs), "json_bytes": sum(len(j.model_dump_json()) for j in jobs)}
        out |= {"seconds": time.perf_counter() - t0, "rss_growth": sampler.stop()}
        return out


def run_child(phase: str, url: str, mb: int, **env: str) -> dict[str, Any]:
    p = subprocess.run(
        [sys.executable, __file__, "--child", phase, "--url", url, "--mb", str(mb)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    if p.returncode != 0:
        print(p.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{phase} failed")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


async def reset(url: str) -> None:
    """Empty the bench's database (table names only: the bench does not import the store)."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    async with client_for(url):  # creates the schema when the database is new
        pass
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            for table in ("budget_ledger", "job_events", "jobs", "blobs"):
                await conn.execute(sa.text(f"DELETE FROM {table}"))  # fixed names
    finally:
        await engine.dispose()


def measure(label: str, url: str, mb: int) -> dict[str, Any]:
    print(f"{label}: putting {mb} MB ...", file=sys.stderr)
    put = run_child("put", url, mb)
    sha = json.dumps(put["sha256"])
    read = run_child("read", url, mb, BENCH_SHA=sha)
    run_child("seed-ref", url, mb, BENCH_SHA=sha)
    listed_ref = run_child("list", url, mb)
    print(f"{label}: a job row with the video inline, as before 0003 ...", file=sys.stderr)
    asyncio.run(reset(url))
    run_child("seed-inline", url, mb)
    listed_inline = run_child("list", url, mb)
    return {"put": put, "read": read, "list_ref": listed_ref, "list_inline": listed_inline}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=500)
    ap.add_argument("--limit-mb", type=float, default=64.0)
    ap.add_argument("--pg", help="a disposable PostgreSQL database URL")
    ap.add_argument("--child")
    ap.add_argument("--url")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child, args.url, args.mb))))
        return 0

    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["SQLite"] = measure("SQLite", f"sqlite:///{tmp}/bench.db", args.mb)
    if args.pg:
        asyncio.run(reset(args.pg))
        rows["PostgreSQL"] = measure("PostgreSQL", args.pg, args.mb)
        asyncio.run(reset(args.pg))

    print(f"\nOne {args.mb} MB input video (1 MiB chunks), separate processes; RSS growth over each one's baseline\n")
    print(f"{'store':<12}{'put':>28}{'read (streamed)':>28}   jobs list with one job extending it")
    ok = True
    for label, r in rows.items():
        cells = []
        for phase in ("put", "read"):
            m = r[phase]
            ok &= m["rss_growth"] <= args.limit_mb * MB
            cells.append(
                f"{m['seconds']:6.1f} s {m['bytes'] / MB / m['seconds']:5.0f} MB/s {m['rss_growth'] / MB:5.1f} MB"
            )
        ref, inline = r["list_ref"], r["list_inline"]
        print(
            f"{label:<12}{cells[0]:>28}{cells[1]:>28}   now {ref['seconds'] * 1000:.0f} ms, "
            f"{ref['rss_growth'] / MB:.1f} MB, {ref['json_bytes']} B returned; inline (before 0003) "
            f"{inline['seconds']:.1f} s, {inline['rss_growth'] / MB:.0f} MB, "
            f"{inline['json_bytes'] / MB:.0f} MB returned"
        )
    print(f"\nstreamed put/read RSS growth limit {args.limit_mb:.0f} MB: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
