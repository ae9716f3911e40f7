"""One test per fault class, over real HTTP against the emulator: exactly what veokit does about it."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path

import httpx
import pytest

from veokit import errors as E
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import verify_mp4
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient

from .conftest import AFTER_GEMINI_SHUTDOWN, BEFORE_GEMINI_SHUTDOWN, add_faults, eventually, settings_for, stats

MODEL = "veo-3.1-fast-generate-001"


def rpc(status: int, name: str, *, delay: str | None = None) -> dict:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}] if delay else []
    return {"error": {"code": status, "message": f"emulated {name}", "status": name, "details": details}}


async def messages(client: VeoClient, job_id: str) -> str:
    return "\n".join(e.message for e in await client.events(job_id))


async def test_429_retryinfo_is_waited_exactly_and_paid_once(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(
        emu,
        {
            "route": "submit",
            "times": 2,
            "fault": {"kind": "http", "status": 429, "body": rpc(429, "RESOURCE_EXHAUSTED", delay="0.3s")},
        },
    )
    t0 = time.monotonic()
    job = await client.generate(GenerateRequest(prompt="patience", duration_seconds=4))
    assert time.monotonic() - t0 >= 0.6
    log = await messages(client, job.id)
    assert log.count("retrying in 0.30 s (RateLimited (RESOURCE_EXHAUSTED); server asked for 0.3 s)") == 2
    assert job.attempts == 3 and stats(emu)["submits_total"] == 1


async def test_retry_after_header_is_honoured(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(emu, {"route": "submit", "fault": {"kind": "http", "status": 429, "headers": {"Retry-After": "1"}}})
    job = await client.generate(GenerateRequest(prompt="header hint", duration_seconds=4))
    assert "retrying in 1.00 s" in await messages(client, job.id)


async def test_5xx_burst_is_retried_with_backoff(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(
        emu,
        {"route": "submit", "times": 2, "fault": {"kind": "http", "status": 503}},
        {"route": "submit", "fault": {"kind": "http", "status": 500}},
    )
    job = await client.generate(GenerateRequest(prompt="burst", duration_seconds=4))
    log = await messages(client, job.id)
    waits = [float(w) for w in re.findall(r"retrying in ([0-9.]+) s", log)]
    assert len(waits) == 3 and all(0 <= w <= 0.2 for w in waits)  # full jitter under the configured cap
    assert job.state is JobState.SUCCEEDED and stats(emu)["submits_total"] == 1


async def test_a_server_delay_past_the_cap_fails_fast(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(
        emu,
        {
            "route": "submit",
            "fault": {"kind": "http", "status": 429, "body": rpc(429, "RESOURCE_EXHAUSTED", delay="3600s")},
        },
    )
    with pytest.raises(E.RateLimited, match="longer than the 120 s"):
        await client.generate(GenerateRequest(prompt="later", duration_seconds=4))
    [job] = await client.list_jobs()
    assert job.state is JobState.FAILED and job.cost_usd == 0 and stats(emu)["submits_total"] == 0
    # Failed fast: one attempt, no wait recorded (the hour was never waited out, nor part of it).
    assert job.attempts == 1 and "retrying in" not in await messages(client, job.id)
    assert stats(emu)["faults_fired"] == 1


@pytest.mark.parametrize("when", ["after_body", "before_body"])
async def test_a_reset_submit_is_settled_by_the_providers_listing(
    client: VeoClient, emu: EmulatorServer, when: str
) -> None:
    """From the client's side a reset before or after the server read the body look the same, and the first may
    have been billed. Where the provider lists what it accepted (here the emulator's listing, through Vertex's
    ``find_submitted``) veokit asks instead of guessing or resending blindly: the accepted operation is continued,
    a request that never arrived is queued again. Either way it is paid once, and nobody has to decide.
    (Without a listing the job is set aside: tests/integration/test_provider_omni.py.)"""
    add_faults(emu, {"route": "submit", "fault": {"kind": "reset", "when": when}})
    job = await client.generate(GenerateRequest(prompt="ambiguous", duration_seconds=4))
    assert job.state is JobState.SUCCEEDED
    assert stats(emu)["submits_total"] == 1
    log = await messages(client, job.id)
    if when == "after_body":
        assert "lists operation" in log and "continuing" in log
    else:
        assert "lists no operation" in log and "queued to be submitted again" in log
    assert (await client.resume()) == []


async def test_poll_errors_and_resets_do_not_fail_the_job(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(
        emu,
        {"route": "poll", "times": 2, "fault": {"kind": "http", "status": 503}},
        {"route": "poll", "fault": {"kind": "reset", "when": "before_body"}},
        {
            "route": "poll",
            "fault": {"kind": "http", "status": 429, "body": rpc(429, "RESOURCE_EXHAUSTED", delay="0.25s")},
        },
    )
    job = await client.generate(GenerateRequest(prompt="steady", duration_seconds=4))
    log = await messages(client, job.id)
    # The reset (the connection dropped with no answer) costs no wait: an unpaid poll is sent again at once on a
    # new connection by the seam. The 503s and the 429 are retried on the policy's schedule, each logged.
    assert log.count("poll failed") == 3 and "retrying in 0.25 s" in log
    assert httpx.get(f"{emu.base_url}/_emulator/faults").json()["rules"] == []  # every fault was met
    assert stats(emu)["submits_total"] == 1


async def test_cut_download_resumes_byte_exact(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(
        emu,
        {"route": "download", "fault": {"kind": "truncate", "after_bytes": 100_000}},
        {"route": "download", "fault": {"kind": "reset", "when": "before_body"}},
    )
    job = await client.generate(GenerateRequest(prompt="cut", storage_uri="gs://b/cut/"))
    [r] = job.results
    original = _rendered(emu, r.remote_uri)
    assert r.sha256 == hashlib.sha256(original.read_bytes()).hexdigest()
    assert stats(emu)["downloads"] >= 3  # cut, reset, then the Range request that finished it


def _rendered(emu: EmulatorServer, gs_uri: str | None) -> Path:
    assert gs_uri
    bucket, _, name = gs_uri[5:].partition("/")
    obj = emu.state.gcs_object(bucket, name)
    assert obj is not None
    return Path(obj.file.path)


async def test_corrupt_download_is_fetched_again_never_accepted(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(emu, {"route": "download", "fault": {"kind": "corrupt", "at_fraction": 0.0}})
    job = await client.generate(GenerateRequest(prompt="damaged", storage_uri="gs://b/bad/"))
    verify_mp4(Path(job.results[0].path))
    assert "not valid" in await messages(client, job.id)
    add_faults(emu, {"route": "download", "times": 10, "fault": {"kind": "corrupt", "at_fraction": 0.0}})
    with pytest.raises(E.DownloadError):
        await client.generate(GenerateRequest(prompt="always damaged", storage_uri="gs://b/bad2/"))
    jobs = await client.list_jobs()
    assert jobs[0].state is JobState.DOWNLOADING and jobs[0].results == []  # never a success


async def test_flaky_filter_passes_on_opt_in_retry(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(emu, {"route": "submit", "fault": {"kind": "outcome", "outcome": "filtered"}})
    job = await client.generate(GenerateRequest(prompt="a song", duration_seconds=4), retry_filtered=1)
    assert job.state is JobState.SUCCEEDED
    first, second = sorted(await client.list_jobs(), key=lambda j: j.created_at)
    assert first.state is JobState.FILTERED and first.cost_usd == 0 and first.error["reasons"]
    assert second.id == job.id and "after " + first.id in await messages(client, job.id)
    assert stats(emu)["submits_total"] == 2


async def test_filtered_without_opt_in_is_one_typed_error(client: VeoClient, emu: EmulatorServer) -> None:
    add_faults(emu, {"route": "submit", "fault": {"kind": "outcome", "outcome": "filtered"}})
    with pytest.raises(E.ContentFiltered):
        await client.generate(GenerateRequest(prompt="a song", duration_seconds=4))
    assert stats(emu)["submits_total"] == 1


async def test_expired_gemini_file_is_reported_as_expired(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, provider="gemini", gemini_api_key="test-key")
    async with VeoClient(s) as c:
        job = await c.submit(GenerateRequest(prompt="too late", duration_seconds=4))
        job = await c._engine._submit(job)  # start it, then let three days pass before anyone fetches it
        assert job.operation_name is not None
        op = emu.state.operation(job.operation_name.rpartition("/")[2])
        assert op is not None
        await eventually(lambda: emu.state.resolve(op) is not None)  # done (and its file stored) at the emulator
        emu.state.clock.advance(3 * 86400)
        job = await c.wait(job.id)
    assert job.state is JobState.FAILED and job.error["type"] == "DownloadExpired"
    assert "gone" in job.error["message"] and job.cost_usd == job.estimate_usd


async def test_retired_model_answered_by_the_server(emu: EmulatorServer, tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=AFTER_GEMINI_SHUTDOWN), port=0) as later:
        s = settings_for(later, tmp_path, provider="gemini", gemini_api_key="test-key")
        async with VeoClient(s) as c:
            with pytest.raises(E.ModelRetired, match="no longer available"):
                await c.generate(GenerateRequest(prompt="x"))


async def test_breaker_opens_then_failover_records_the_path(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(
        emu, tmp_path, gemini_api_key="test-key", failover="vertex,gemini", breaker_threshold=3, retry_attempts=3
    )
    add_faults(emu, {"route": "submit", "model": MODEL, "times": 50, "fault": {"kind": "http", "status": 503}})
    async with VeoClient(s) as c:
        job = await c.generate(GenerateRequest(prompt="somewhere", duration_seconds=4))
        assert job.provider == "gemini" and job.model == "veo-3.1-fast-generate-preview"
        log = await messages(c, job.id)
        assert "failover vertex → gemini (veo-3.1-fast-generate-preview)" in log
        second = await c.generate(GenerateRequest(prompt="again", duration_seconds=4))
        assert "circuit open" in await messages(c, second.id)  # no more 503s spent on vertex
    assert stats(emu)["submits_total"] == 2


async def test_content_filter_does_not_fail_over_by_default(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, gemini_api_key="test-key", failover="vertex,gemini")
    async with VeoClient(s) as c:
        with pytest.raises(E.ContentFiltered):
            await c.generate(GenerateRequest(prompt="x [emulate:filtered]", duration_seconds=4))
        [job] = await c.list_jobs()
    assert job.provider == "vertex"


async def test_pacing_to_the_quota_means_no_429(tmp_path: Path) -> None:
    # The client paces at half the quota's rate, so a request would have to reach the emulator a whole second
    # later than the fourth one after it for two of them to share a quota window: the margin is the machine's.
    cfg = EmulatorConfig(latency_s=0.2, quota_requests=4, quota_window_s=1.0, as_of=BEFORE_GEMINI_SHUTDOWN)
    with EmulatorServer(cfg, port=0) as emu:
        s = settings_for(emu, tmp_path, rate_limit="4/2s")
        async with VeoClient(s) as c:
            jobs = await asyncio.gather(
                *(c.generate(GenerateRequest(prompt="paced", duration_seconds=4)) for _ in range(8))
            )
        st = stats(emu)
    assert all(j.state is JobState.SUCCEEDED for j in jobs)
    assert st["submits_total"] == 8 and st["rate_limited"] == 0


async def test_without_pacing_the_quota_bites_and_429s_are_absorbed(tmp_path: Path) -> None:
    cfg = EmulatorConfig(latency_s=0.2, quota_requests=4, quota_window_s=1.0)
    with EmulatorServer(cfg, port=0) as emu:
        # All twelve submits reach the emulator, then go through at one instant of its (frozen) clock: exactly
        # four fit the quota, however slowly the machine lets them through.
        burst = emu.state.holds.add("submit")
        emu.state.clock.freeze()
        async with VeoClient(settings_for(emu, tmp_path)) as c:
            running = [
                asyncio.create_task(c.generate(GenerateRequest(prompt="unpaced", duration_seconds=4)))
                for _ in range(12)
            ]
            await eventually(lambda: burst.waiting == 12)
            emu.state.holds.release(burst.id)
            await eventually(lambda: stats(emu)["submits_total"] + stats(emu)["rate_limited"] == 12)
            assert (stats(emu)["submits_total"], stats(emu)["rate_limited"]) == (4, 8)
            emu.state.clock.resume()  # the quota window moves on; the refused eight wait as told and retry
            jobs = await asyncio.gather(*running)
        st = stats(emu)
    assert all(j.state is JobState.SUCCEEDED for j in jobs)
    assert st["submits_total"] == 12 and st["rate_limited"] >= 8  # the comparison the paced test wins


async def test_in_flight_cap_holds_back_submits(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.0, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        first_wave = emu.state.holds.add()  # operations stay running: their jobs keep their in-flight slots
        async with VeoClient(settings_for(emu, tmp_path, max_in_flight=2)) as c:
            running = [
                asyncio.create_task(c.generate(GenerateRequest(prompt="queue", duration_seconds=4))) for _ in range(6)
            ]
            await eventually(lambda: len(first_wave.held) == 2)  # two submitted, and polled while held

            async def states() -> list[str]:
                return sorted(j.state.value for j in await c.list_jobs())

            assert await states() == ["queued"] * 4 + ["running"] * 2  # the other four wait for a slot
            assert stats(emu)["submits_total"] == 2
            emu.state.holds.release(first_wave.id)
            done = await asyncio.gather(*running)
        assert all(j.state is JobState.SUCCEEDED for j in done) and stats(emu)["submits_total"] == 6


async def test_job_deadline_sets_it_aside_and_resume_keeps_waiting(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        slow = emu.state.holds.add()  # the operation runs past any deadline until released
        async with VeoClient(settings_for(emu, tmp_path, job_deadline_s=0.5)) as c:
            job = await c.submit(GenerateRequest(prompt="slow", duration_seconds=4))
            job = await c.wait(job.id)
            assert job.state is JobState.NEEDS_ATTENTION and job.error["type"] == "DeadlineExceeded"
            assert f"veokit resume {job.id}" in await messages(c, job.id)
            emu.state.holds.release(slow.id)  # the operation finishes while nobody watches
            [op] = emu.state.operations.values()
            await eventually(lambda: emu.state.resolve(op) is not None)  # rendered: done at the next poll
            [done] = await c.resume(job.id)
        assert done.state is JobState.SUCCEEDED and stats(emu)["submits_total"] == 1


async def test_reconcile_attaches_the_operation_an_ambiguous_submit_created(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    """The Gemini API lists no operations, so an ambiguous submit is set aside, never resent; the user attaches
    the operation found in the console and the job finishes, paid once."""
    add_faults(emu, {"route": "submit", "fault": {"kind": "reset", "when": "after_body"}})
    async with VeoClient(settings_for(emu, tmp_path, provider="gemini", gemini_api_key="test-key")) as client:
        with pytest.raises(E.SubmitOutcomeUnknown, match="may have accepted"):
            await client.generate(GenerateRequest(prompt="found it", duration_seconds=4))
        [job] = await client.list_jobs()
        assert job.state is JobState.NEEDS_ATTENTION
        assert f"veokit jobs retry {job.id}" in job.error["message"] and "abandon" in job.error["message"]
        assert (await client.resume()) == []  # resume does not touch it either
        import httpx

        ops = httpx.get(f"{emu.base_url}/_emulator/operations").json()["operations"]  # "the console"
        [op] = [o["name"] for o in ops]
        await client.reconcile(job.id, op)
        done = await client.wait(job.id)
    assert done.state is JobState.SUCCEEDED and done.operation_name == op
    assert stats(emu)["submits_total"] == 1
