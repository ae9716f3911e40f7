"""The resilience issue's acceptance run: 100 jobs against a seeded 20 % mix of faults that are safe to
retry. Every job must end with a valid MP4, the emulator must have accepted exactly 100 submits, and the
retries must be visible on the jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, verify_mp4
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient

from .conftest import add_faults, settings_for, stats

HINT = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}],
    }
}

# Per request on each route, about one in five answers is a fault.
MIX = [
    {"route": "submit", "probability": 0.08, "fault": {"kind": "http", "status": 429, "body": HINT}},
    {"route": "submit", "probability": 0.07, "fault": {"kind": "http", "status": 503}},
    {"route": "submit", "probability": 0.06, "fault": {"kind": "http", "status": 500}},
    {"route": "poll", "probability": 0.07, "fault": {"kind": "http", "status": 503}},
    {"route": "poll", "probability": 0.07, "fault": {"kind": "reset", "when": "before_body"}},
    {"route": "poll", "probability": 0.07, "fault": {"kind": "http", "status": 429, "body": HINT}},
    {"route": "download", "probability": 0.10, "fault": {"kind": "truncate", "after_bytes": 50_000}},
    {"route": "download", "probability": 0.10, "fault": {"kind": "reset", "when": "before_body"}},
    # Every submit that reuses a kept-alive connection is lost unread (the keep-alive race, every time): paid
    # submits go out on a connection of their own, so this never fires; if one did, its job could not finish.
    {"route": "submit", "probability": 1, "times": -1, "fault": {"kind": "stale"}},
]


async def test_100_jobs_through_20_percent_faults(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.3, seed=20), port=0) as emu:
        add_faults(emu, *MIX)
        s = settings_for(emu, tmp_path, retry_attempts=8)
        async with VeoClient(s) as c:
            request = GenerateRequest(prompt="a hundred kites", duration_seconds=4, storage_uri="gs://mix/out/")
            results = await asyncio.gather(*(c.generate(request) for _ in range(100)), return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors == []
            jobs = await c.list_jobs(limit=200)
            logs = {j.id: "\n".join(e.message for e in await c.events(j.id)) for j in jobs}
        st = stats(emu)

    assert len(jobs) == 100 and all(j.state is JobState.SUCCEEDED for j in jobs)
    expect = Expectation(width=1280, height=720, duration_s=4.0, audio=True)
    for j in jobs:
        verify_mp4(Path(j.results[0].path), expect)
    assert st["submits_total"] == 100  # not one paid twice
    assert st["faults_fired"] >= 60  # the mix really fired (about 20 % of ~700 requests)
    submit_retries = sum(j.attempts - 1 for j in jobs)
    poll_retries = sum(log.count("poll failed") for log in logs.values())
    download_retries = sum(log.count("download failed") for log in logs.values())
    assert submit_retries > 0 and poll_retries > 0, (submit_retries, poll_retries, download_retries)
    assert sum(1 for log in logs.values() if "retrying in" in log) >= 10  # visible on the jobs themselves
