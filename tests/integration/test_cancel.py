"""Cancelling jobs (issue 10, item 5): queued, running on a provider with a cancel (fal) and without (Vertex),
held by a worker in this process or in another, refused when there is nothing left to cancel.

Jobs are kept running by a long emulated latency; every wait is for an observable condition (a state in the
store, a line from the worker), never for time.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit import errors as E
from veokit.emulator import EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service import VeoClient, WorkerConfig

from .conftest import settings_for, stats

S = JobState
LONG_S = 3600.0  # an operation that stays running until the test decides otherwise


async def eventually(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def clients(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """VeoClients on one SQLite store, as separate processes would open it."""
    opened: list[VeoClient] = []

    async def open_client(**overrides: Any) -> VeoClient:
        c = VeoClient(
            settings_for(
                emu,
                tmp_path,
                fal_key="test-fal-key",
                fal_base_url=emu.base_url,
                worker_lease_s=3.0,  # heartbeats every second: a worker elsewhere notices a cancel quickly
                **overrides,
            )
        )
        await c.start()
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.aclose()


def request(**kw: Any) -> GenerateRequest:
    return GenerateRequest(prompt="a lighthouse at dusk", duration_seconds=4, **kw)


def worker_config() -> WorkerConfig:
    return WorkerConfig(concurrency=4, lease_s=3.0, idle_s=0.05, stop_grace_s=5.0)


async def test_a_queued_job_is_cancelled_before_anything_is_paid(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients()
    job = await client.submit(request())
    cancelled = await client.cancel(job.id)
    assert (cancelled.state, cancelled.cost_usd, cancelled.lease_owner) == (S.CANCELLED, 0.0, None)
    assert "nothing paid" in (await client.events(job.id))[-1].message
    stats_after = await client.worker(WorkerConfig(drain=True, idle_s=0.05)).run()
    assert stats_after.claimed == 0 and stats(emu)["submits_total"] == 0
    assert (await client.costs()).rows == []


async def test_cancelling_a_job_a_worker_elsewhere_runs_stops_it_and_the_veo_cost_stands(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    emu.state.set_latency(LONG_S, None)
    here, elsewhere = await clients(), await clients()
    job = await here.submit(request())
    lines: list[str] = []
    worker = elsewhere.worker(worker_config(), on_event=lines.append)
    running = asyncio.create_task(worker.run())
    await eventually(lambda: stats(emu)["polls"] >= 1)  # submitted and polled: the worker holds it, running

    cancelled = await here.cancel(job.id)

    assert cancelled.state is S.CANCELLED
    assert cancelled.cost_usd == cancelled.estimate_usd > 0  # Vertex has no cancel: Google bills it anyway
    history = [e.message for e in await here.events(job.id)]
    assert any("has no cancel" in m and "stands" in m for m in history)
    # The worker sees it at its next heartbeat and stops polling, without writing anything.
    await eventually(lambda: any(job.id in line and "stopped working on it" in line for line in lines))
    await eventually(lambda: worker.in_flight == 0)
    worker.stop()
    await asyncio.wait_for(running, 30)
    assert stats(emu)["submits_total"] == 1
    assert (await here.get_job(job.id)).state is S.CANCELLED
    assert [e.message for e in await here.events(job.id)] == history  # the worker wrote nothing after
    [row] = (await here.costs()).rows
    assert (row.spent_usd, row.reserved_usd) == (cancelled.estimate_usd, 0.0)


async def test_cancelling_on_fal_calls_its_cancel_and_nothing_is_billed(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    emu.state.set_latency(LONG_S, None)
    client = await clients()
    job = await client.submit(request(), provider="fal")
    lines: list[str] = []
    worker = client.worker(worker_config(), on_event=lines.append)
    running = asyncio.create_task(worker.run())
    await eventually(lambda: stats(emu)["polls"] >= 1)

    cancelled = await client.cancel(job.id)

    assert (cancelled.state, cancelled.cost_usd) == (S.CANCELLED, 0.0)
    assert "fal accepted the cancel" in (await client.events(job.id))[-1].message
    # This process's worker is stopped at once, not at its next heartbeat.
    assert any(job.id in line and "stopped working on it" in line for line in lines)
    await eventually(lambda: worker.in_flight == 0)
    worker.stop()
    await asyncio.wait_for(running, 30)
    # The emulator's task is cancelled: fal answers for it as cancelled from now on.
    assert cancelled.operation_name is not None
    status = httpx.get(
        f"{emu.base_url}/{cancelled.operation_name}/status", headers={"Authorization": "Key test-fal-key"}
    ).json()
    assert status["status"] == "COMPLETED" and status.get("error_type") == "request_cancelled"
    [row] = (await client.costs()).rows
    assert (row.spent_usd, row.reserved_usd, row.unknown_usd) == (0.0, 0.0, 0.0)


async def test_generate_elsewhere_ends_when_its_job_is_cancelled(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    emu.state.set_latency(LONG_S, None)
    waiting, canceller = await clients(), await clients()
    job = await waiting.submit(request())
    finished = asyncio.create_task(waiting.finish(job.id))
    await eventually(lambda: stats(emu)["polls"] >= 1)
    await canceller.cancel(job.id)
    ended = await asyncio.wait_for(finished, 60)  # its heartbeat finds the lease gone and stops polling
    assert ended.state is S.CANCELLED


async def test_there_is_nothing_to_cancel_in_a_finished_job(clients: Callable[..., Any]) -> None:
    client = await clients()
    job = await client.submit(request())
    await client.cancel(job.id)
    with pytest.raises(E.JobStateError, match="already cancelled"):
        await client.cancel(job.id)
    with pytest.raises(E.JobNotFound):
        await client.cancel("job_nosuchjob")


async def test_the_cli_and_the_agent_tool_cancel_too(
    clients: Callable[..., Any], emu: EmulatorServer, tmp_path: Path
) -> None:
    from veokit.agent.results import data_of, text_of
    from veokit.agent.tools_core import VideoToolkit

    from .test_routing import cli

    client = await clients()
    first, second = await client.submit(request()), await client.submit(request(seed=2))
    done = cli(tmp_path, "jobs", "cancel", first.id)
    assert done.returncode == 0, done.stderr
    assert f"{first.id}: cancelled · cost $0.00" in done.stdout and "nothing paid" in done.stderr
    again = cli(tmp_path, "jobs", "cancel", first.id)
    assert again.returncode != 0 and "already cancelled" in again.stderr and "Traceback" not in again.stderr

    with VideoToolkit(VeoClient(settings_for(emu, tmp_path))) as kit:
        result = await kit.cancel_video(second.id)
        assert result["status"] == "success", text_of(result)
        assert data_of(result)["state"] == "cancelled" and "nothing paid" in text_of(result)
        refused = await kit.cancel_video(second.id)
        assert refused["status"] == "error" and "already cancelled" in text_of(refused)
