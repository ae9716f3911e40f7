"""Peak memory and throughput fetching one large Veo result: veokit vs the official google-genai SDK.

Both clients run the same Vertex request against `veokit emulator` (a separate process), whose finished
operation carries the video inline as base64 — the shape Vertex returns without a storageUri, and the worst
case for memory. Each client runs in a fresh subprocess; we report its peak RSS growth over its own baseline
(measured after imports, client construction and one small warm-up request, so one-time costs such as lazy
imports and connection pools are not counted against either) and its throughput.

    uv run --group test python bench/download_memory.py [--min-mb 500]

Exit status is non-zero when veokit's peak RSS growth exceeds --limit-mb (default 32).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PeakSampler, emulated_vertex, free_port, wait_up  # bench/ is on sys.path when run as a script

MODEL = "veo-3.1-generate-001"


def child_veokit(base: str, prompt: str, out: Path) -> dict[str, Any]:
    import asyncio

    from veokit.models.request import GenerateRequest
    from veokit.service.client import VeoClient

    settings = emulated_vertex(base, out, poll_scale=0.005)
    request = GenerateRequest(prompt=prompt, model=MODEL, resolution="1080p", duration_seconds=8)

    async def go() -> dict[str, Any]:
        async with VeoClient(settings) as veo:
            await veo.generate(GenerateRequest(prompt="warm-up", model=MODEL, duration_seconds=4))
            sampler = PeakSampler()
            t0 = time.perf_counter()
            job = await veo.generate(request)
            seconds = time.perf_counter() - t0
            growth = sampler.stop()
        r = job.results[0]
        return {
            "bytes": r.size_bytes,
            "seconds": seconds,
            "rss_growth": growth,
            "verified": True,
            "detail": f"{r.width}x{r.height} {r.duration_s:.2f}s {r.video_codec}+{r.audio_codec}",
        }

    return asyncio.run(go())


def child_sdk(base: str, prompt: str, out: Path) -> dict[str, Any]:
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

    def fetch(text: str, config: types.GenerateVideosConfig) -> types.Video:
        op = client.models.generate_videos(model=MODEL, source=types.GenerateVideosSource(prompt=text), config=config)
        while not op.done:
            time.sleep(0.05)
            op = client.operations.get(op)
        assert op.response is not None and op.response.generated_videos
        video = op.response.generated_videos[0].video
        assert video is not None
        return video

    fetch("warm-up", types.GenerateVideosConfig(duration_seconds=4))
    sampler = PeakSampler()
    t0 = time.perf_counter()
    video = fetch(prompt, types.GenerateVideosConfig(resolution="1080p", duration_seconds=8, aspect_ratio="16:9"))
    assert video.video_bytes is not None
    path = out / "sdk.mp4"
    path.write_bytes(video.video_bytes)
    seconds = time.perf_counter() - t0
    growth = sampler.stop()
    from veokit.media.probe import probe_mp4

    p = probe_mp4(path)
    return {
        "bytes": path.stat().st_size,
        "seconds": seconds,
        "rss_growth": growth,
        "verified": True,
        "detail": f"{p.width}x{p.height} {p.duration_s:.2f}s {p.video_codec}+{p.audio_codec}",
    }


def warm(base: str, prompt: str) -> None:
    """Render the large video once (the emulator caches it), so the clients measure transfer, not x264."""
    import httpx

    url = f"{base}/v1/projects/bench/locations/us-central1/publishers/google/models/{MODEL}"
    body = {
        "instances": [{"prompt": prompt}],
        "parameters": {"resolution": "1080p", "durationSeconds": 8, "storageUri": "gs://bench/warm/"},
    }
    h = {"Authorization": "Bearer test-token"}
    name = httpx.post(f"{url}:predictLongRunning", json=body, headers=h, timeout=60).json()["name"]
    while (
        not httpx.post(f"{url}:fetchPredictOperation", json={"operationName": name}, headers=h, timeout=60)
        .json()
        .get("done")
    ):
        time.sleep(0.5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--min-mb", type=int, default=500)
    ap.add_argument("--limit-mb", type=float, default=32.0)
    ap.add_argument("--child", choices=["veokit", "sdk"])
    ap.add_argument("--base")
    ap.add_argument("--out")
    args = ap.parse_args()
    prompt = f"benchmark noise [emulate:large:{args.min_mb * 1_000_000}]"

    if args.child:
        fn = child_veokit if args.child == "veokit" else child_sdk
        print(json.dumps(fn(args.base, prompt, Path(args.out))))
        return 0

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
            "--latency",
            "0.2",
            "--storage-dir",
            str(storage),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_up(base)
        print(
            f"rendering a >= {args.min_mb} MB 1080p 8 s MP4 in the emulator (cached in {storage}) ...", file=sys.stderr
        )
        warm(base, prompt)
        rows = {}
        for who in ("veokit", "sdk"):
            with tempfile.TemporaryDirectory() as out:
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
                        "--min-mb",
                        str(args.min_mb),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if p.returncode != 0:
                    print(p.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{who} run failed")
                rows[who] = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        emu.terminate()
        emu.wait(10)

    mb = 1024 * 1024
    print(
        f"\nOne Vertex result delivered inline (base64), {rows['veokit']['bytes'] / 1e6:.0f} MB MP4, "
        "same emulator, separate processes\n"
    )
    print(f"{'client':<28}{'peak RSS growth':>18}{'wall time':>12}{'throughput':>14}  result")
    for who, label in (("veokit", "veokit (streamed to disk)"), ("sdk", "google-genai 3.4 SDK")):
        r = rows[who]
        print(
            f"{label:<28}{r['rss_growth'] / mb:>15.1f} MB{r['seconds']:>10.2f} s"
            f"{r['bytes'] / mb / r['seconds']:>10.0f} MB/s  {r['detail']}"
        )
    ratio = rows["sdk"]["rss_growth"] / max(rows["veokit"]["rss_growth"], 1)
    print(
        f"\nthe SDK's peak RSS growth is {ratio:.0f}x veokit's; veokit limit {args.limit_mb:.0f} MB: "
        f"{'PASS' if rows['veokit']['rss_growth'] <= args.limit_mb * mb else 'FAIL'}"
    )
    print(f"(max RSS of this parent: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0 if rows["veokit"]["rss_growth"] <= args.limit_mb * mb else 1


if __name__ == "__main__":
    sys.exit(main())
