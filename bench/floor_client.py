"""The physical floor for orchestrating Veo jobs: the least a correct client must do, with no veokit code.

Per job: the same Vertex wire calls veokit makes (``predictLongRunning``, then ``fetchPredictOperation`` on
veokit's poll schedule for the model: first poll at the minimum latency, then geometric intervals with one poll
placed at the typical latency), the inline base64 video decoded to disk while the body streams in (SHA-256 on
the way), the same MP4 verification veokit makes (top-level boxes walk the whole file: ``ftyp`` first, ``moov``
and ``mdat`` present, box sizes adding up to the file size; then PyAV opens it and decodes the first frame and
the last keyframe, in a thread), and **five durable SQLite commits** (queued, submitting, running with the
operation name, downloading, succeeded with path and hash: WAL, default ``synchronous``, one transaction each,
on one writer thread so an fsync never blocks the event loop).

The issue asks for "the same submit -> poll -> stream-to-disk -> verify" and for verification to stay complete:
decoding the end frames is the verification's cost (~5 ms of CPU for a 4 s 720p video, mostly in libavcodec),
not plumbing, so the floor pays it too. What the decode cost the floor is measured on its own (CPU time of the
verifying thread) and returned, so a caller can also print the floor without it (``verify="boxes"`` skips it).

What it leaves out, and veokit has to pay for: leases and heartbeats, budget ledger, retries and error mapping,
events, validation against a catalog, the sample-table check against the file's size.
``bench/orchestration.py`` runs it beside veokit against the same emulator, so the ratio is measured, not
remembered.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import sqlite3
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

KEY = b'"bytesBase64Encoded"'
READ_CHUNK = 256 * 1024


class Schedule:
    """veokit's poll schedule for a catalog row [min, typical, max] latency, scaled (see resilience/polling)."""

    def __init__(self, latency_s: tuple[float, float, float], scale: float) -> None:
        lo, typical, _ = (x * scale for x in latency_s)
        self.first, self.typical = lo, typical
        self.interval, self.max_interval, self.growth = max(0.05, 5.0 * scale), max(0.1, 20.0 * scale), 1.5

    def delay(self, polls_done: int, elapsed: float) -> float:
        if polls_done == 0:
            return max(0.0, self.first - elapsed)
        d = min(self.max_interval, self.interval * self.growth ** (polls_done - 1))
        until = self.typical - elapsed
        return max(self.interval, until) if 0 < until < d else d


class Db:
    """Five commits per job on one thread: sqlite3 in autocommit mode, so each statement is one transaction."""

    def __init__(self, path: Path) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="floor-db")
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, prompt TEXT NOT NULL,"
            " operation TEXT, path TEXT, sha256 TEXT, updated REAL NOT NULL)"
        )

    async def commit(self, sql: str, **params: Any) -> None:
        # Named parameters: positional ones with the time appended bound `updated` to the id and `id` to the
        # time, so every UPDATE matched no row and the floor's four state changes wrote nothing.
        await asyncio.get_running_loop().run_in_executor(
            self.pool, self.conn.execute, sql, {**params, "now": time.time()}
        )

    def count(self, state: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0])

    def close(self) -> None:
        self.pool.shutdown()
        self.conn.close()


async def stream_video(content: Any, dest: Path) -> str:
    """Decode the inline base64 value of a streamed JSON body into ``dest``; return its SHA-256."""
    digest = hashlib.sha256()
    head, carry, inside, ended = b"", b"", False, False
    with open(dest, "wb") as fh:  # noqa: ASYNC230 - small writes into the page cache, as veokit's spooler does
        async for chunk in content.iter_chunked(READ_CHUNK):
            if ended:
                continue
            if not inside:
                head += chunk
                at = head.find(KEY)
                if at < 0:
                    head = head[-len(KEY) :]
                    continue
                quote = head.find(b'"', at + len(KEY))
                if quote < 0:
                    continue
                chunk, inside = head[quote + 1 :], True
            end = chunk.find(b'"')
            if end >= 0:
                chunk, ended = chunk[:end], True
            data = carry + chunk.replace(b"\\/", b"/")
            cut = len(data) if ended else len(data) - len(data) % 4
            raw = base64.b64decode(data[:cut], validate=True)
            carry = data[cut:]
            fh.write(raw)
            digest.update(raw)
    if not ended:
        raise ValueError("no inline video in the response")
    return digest.hexdigest()


def check_mp4(path: Path, *, decode: bool = True) -> float:
    """Raise unless ``path`` is a whole MP4 whose end frames decode; the CPU seconds the frame decode took."""
    size = os.path.getsize(path)
    seen: list[bytes] = []
    with open(path, "rb") as fh:
        at = 0
        while at < size:
            fh.seek(at)
            n, kind = struct.unpack(">I4s", fh.read(8))
            if n == 1:
                (n,) = struct.unpack(">Q", fh.read(8))
            if n < 8 or at + n > size:
                raise ValueError(f"{path}: bad box {kind!r} at {at}")
            seen.append(kind)
            at += n
    if not seen or seen[0] != b"ftyp" or b"moov" not in seen or b"mdat" not in seen:
        raise ValueError(f"{path}: not an MP4 ({seen})")
    return decode_end_frames(path) if decode else 0.0


def decode_end_frames(path: Path) -> float:
    """Decode the first frame and the last keyframe (as veokit's probe does); the CPU seconds it took."""
    import av

    cpu0 = time.thread_time()
    with av.open(str(path), "r", options={"probesize": "32", "analyzeduration": "0"}) as c:
        v = c.streams.video[0]
        v.codec_context.thread_type = "NONE"
        v.codec_context.thread_count = 1
        for stamp in (0, (v.start_time or 0) + (v.duration or 0)):
            c.seek(max(stamp, 0), stream=v, backward=True)
            if next(iter(c.decode(v)), None) is None:
                raise ValueError(f"{path}: no decodable frame at {stamp}")
    return time.thread_time() - cpu0


KEEPALIVE_S = 4.0


async def _poll(session: Any, url: str, name: str, headers: dict[str, str]) -> Any:
    """A poll (unpaid, so safe to send again) sent once more when its kept-alive connection was closed under it:
    aiohttp resends only GET/PUT/DELETE itself, and Vertex's poll is a POST."""
    import aiohttp

    try:
        return await session.post(url, json={"operationName": name}, headers=headers)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        return await session.post(url, json={"operationName": name}, headers=headers)


async def run(
    base: str,
    out: Path,
    *,
    model: str,
    prompts: list[str],
    jobs: int,
    concurrency: int,
    latency_s: tuple[float, float, float],
    scale: float,
    counts: dict[str, int] | None = None,
    connections: int | None = None,
    verify: str = "decode",
) -> dict[str, Any]:
    """Run ``jobs`` jobs, ``concurrency`` at once, over at most ``connections`` (default: ``concurrency``).
    ``counts`` (if given) is kept current: ``in_flight`` (jobs holding a slot) and ``polling`` (jobs past the
    recorded operation name), for a caller watching the run. ``verify``: "decode" (the box walk and the end frames
    decoded, as veokit verifies) or "boxes" (the box walk only)."""
    import aiohttp

    schedule = Schedule(latency_s, 1 / scale)
    db = Db(out / "floor.db")
    prefix = f"{base}/v1/projects/bench/locations/us-central1/publishers/google/models/{model}"
    headers = {"Authorization": "Bearer test-token"}
    slots = asyncio.Semaphore(concurrency)
    in_flight = [0, 0]
    counts = {} if counts is None else counts
    counts.update(in_flight=0, polling=0)
    noticed: dict[str, float] = {}
    files: list[str] = []
    decode_cpu = [0.0]

    async def one(session: aiohttp.ClientSession, fresh: aiohttp.ClientSession, i: int) -> None:
        prompt = prompts[i % len(prompts)]
        await db.commit(
            "INSERT INTO jobs (id, state, prompt, updated) VALUES (:id, 'queued', :prompt, :now)", id=i, prompt=prompt
        )
        async with slots:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
            counts["in_flight"] += 1
            polling = False
            try:
                await db.commit("UPDATE jobs SET state='submitting', updated=:now WHERE id=:id", id=i)
                body = {
                    "instances": [{"prompt": prompt}],
                    "parameters": {
                        "sampleCount": 1,
                        "durationSeconds": 4,
                        "aspectRatio": "16:9",
                        "resolution": "720p",
                        "generateAudio": True,
                    },
                }
                # The paid submit on a connection opened for it, as veokit sends it (a kept-alive one can be closed
                # by the server under the request, and then nobody knows whether it was accepted).
                async with fresh.post(f"{prefix}:predictLongRunning", json=body, headers=headers) as r:
                    r.raise_for_status()
                    name = (await r.json())["name"]
                start = time.monotonic()
                await db.commit(
                    "UPDATE jobs SET state='running', operation=:op, updated=:now WHERE id=:id", op=name, id=i
                )
                counts["polling"] += 1
                polling = True
                polls = 0
                dest = out / f"floor-{i}.mp4"
                while True:
                    await asyncio.sleep(schedule.delay(polls, time.monotonic() - start))
                    polls += 1
                    url = f"{base}/v1/{name.rpartition('/operations/')[0]}:fetchPredictOperation"
                    async with await _poll(session, url, name, headers) as r:
                        r.raise_for_status()
                        if r.content_length is not None and r.content_length < 4096:
                            doc = await r.json()
                            if doc.get("done"):
                                raise RuntimeError(f"{name}: finished without a video: {doc}")
                            continue
                        noticed[name] = time.time()
                        await db.commit("UPDATE jobs SET state='downloading', updated=:now WHERE id=:id", id=i)
                        sha = await stream_video(r.content, dest)
                    break
                decode_cpu[0] += await asyncio.to_thread(check_mp4, dest, decode=verify == "decode")
                await db.commit(
                    "UPDATE jobs SET state='succeeded', path=:path, sha256=:sha, updated=:now WHERE id=:id",
                    path=str(dest),
                    sha=sha,
                    id=i,
                )
                files.append(str(dest))
            finally:
                in_flight[0] -= 1
                counts["in_flight"] -= 1
                counts["polling"] -= polling

    # Idle connections are dropped before the server's keep-alive timeout (uvicorn's: 5 s) can close them under a
    # request: aiohttp keeps them 15 s by default, and a poll sent on a connection closing under it fails.
    connector = aiohttp.TCPConnector(limit=connections or concurrency, keepalive_timeout=KEEPALIVE_S)
    fresh_connections = aiohttp.TCPConnector(limit=connections or concurrency, force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        aiohttp.ClientSession(connector=fresh_connections) as fresh,
    ):
        await asyncio.gather(*(one(session, fresh, i) for i in range(jobs)))
    # The commits wrote what they say: every finished job's row reads succeeded.
    if db.count("succeeded") != len(files):
        raise RuntimeError(f"the floor's database has {db.count('succeeded')} succeeded rows for {len(files)} videos")
    db.close()
    return {"noticed": noticed, "files": files, "peak_in_flight": in_flight[1], "decode_cpu_s": decode_cpu[0]}
