"""The service layer's own contract, as surfaces use it: one plan(), batches and following, the shared job view,
and resume that never runs a job beside a worker."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from veokit import errors as E
from veokit.agent.results import job_view as agent_job_view
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.models.request import GenerateRequest, ImageInput
from veokit.service import JobState, VeoClient, WorkerConfig, job_view, read_batch
from veokit.store.budget import BudgetExceeded

from .conftest import BEFORE_GEMINI_SHUTDOWN, settings_for, stats
from .test_worker import eventually

S = JobState
FAST_4S = GenerateRequest(prompt="a paper boat", duration_seconds=4)  # $0.40 on Vertex


@pytest.fixture
async def clients(emu: EmulatorServer, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """VeoClients on one SQLite store, as separate processes would have them."""
    opened: list[VeoClient] = []

    async def open_client(**overrides: Any) -> VeoClient:
        c = VeoClient(settings_for(emu, tmp_path, **overrides))
        await c.start()
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.aclose()


# -- plan ------------------------------------------------------------------------------------------------------
async def test_plan_is_the_one_judgement_and_refuses_before_anything_is_recorded(
    clients: Callable[..., Any], emu: EmulatorServer
) -> None:
    client = await clients(budget_per_job_usd=0.5)
    plan = client.plan(FAST_4S)
    assert (plan.provider, plan.request.model, plan.estimate.total_usd) == ("vertex", "veo-3.1-fast-generate-001", 0.4)
    assert plan.route is None and plan.offer.model == plan.request.model

    pricey = FAST_4S.model_copy(update={"duration_seconds": 8})  # $0.80
    assert client.estimate(pricey).total_usd == pytest.approx(0.8)  # a price is not a refusal
    with pytest.raises(BudgetExceeded, match="per-job cap of \\$0.50") as over_cap:
        client.plan(pricey)
    assert over_cap.value.cap == "per_job"
    with pytest.raises(E.InvalidRequest, match="over this session's limit of \\$0.30") as over_ceiling:
        client.plan(FAST_4S, max_cost_usd=0.3)
    assert over_ceiling.value.field == "cost"
    with pytest.raises(BudgetExceeded):
        await client.submit(pricey)  # submit plans the same way
    assert await client.list_jobs() == []

    job = await client.submit(plan, client_key="k")  # a plan is submitted as planned
    assert (job.provider, job.model, job.estimate_usd) == ("vertex", plan.request.model, 0.4)
    assert (await client.submit(plan, client_key="k")).id == job.id
    assert stats(emu)["submits_total"] == 0


# -- batches ---------------------------------------------------------------------------------------------------
async def test_a_batch_is_enqueued_once_and_followed_to_the_end_by_a_worker_here(
    clients: Callable[..., Any], emu: EmulatorServer, tmp_path: Path
) -> None:
    file = tmp_path / "shots.jsonl"
    file.write_text("\n".join(json.dumps({"prompt": f"scene {i}", "duration": 4}) for i in range(3)) + "\n")
    client = await clients(job_deadline_s=120)  # slow machines: the deadline is not under test here
    first = await client.enqueue_batch(read_batch(file), source=file.name)
    assert (first.new, first.already, first.reused, first.estimate_usd) == (3, 0, 0, pytest.approx(1.2))
    assert "3 enqueued now, 0 already enqueued" in first.describe(file.name)
    again = await client.enqueue_batch(read_batch(file), source=file.name)
    assert again.new == 0 and [j.id for j in again.jobs] == [j.id for j in first.jobs]

    seen: list[int] = []
    config = WorkerConfig(concurrency=3, lease_s=3.0, idle_s=0.05)
    done = await asyncio.wait_for(
        client.follow([j.id for j in first.jobs], run_here=config, on_status=lambda s: seen.append(s.finished)),
        60,
    )
    assert {j.state for j in done} == {S.SUCCEEDED} and seen[-1] == 3
    assert stats(emu)["submits_total"] == 3


async def test_a_bad_batch_line_is_named_and_nothing_is_recorded(clients: Callable[..., Any], tmp_path: Path) -> None:
    file = tmp_path / "b.jsonl"
    file.write_text('{"prompt": "fine", "duration": 4}\n{"prompt": "too long", "duration": 8, "resolution": "4k"}\n')
    client = await clients(budget_per_job_usd=1.0)
    with pytest.raises(E.InvalidRequest, match="^b.jsonl:2: budget: the request is estimated at \\$"):
        await client.enqueue_batch(read_batch(file), source="b.jsonl")
    assert await client.list_jobs() == []


async def test_every_bad_batch_line_is_named_at_once_and_nothing_is_recorded(
    clients: Callable[..., Any], tmp_path: Path
) -> None:
    # Lines alike but for their prompts share one plan: the bad shape among good ones is refused on every line.
    file = tmp_path / "b.jsonl"
    file.write_text(
        "\n".join(json.dumps({"prompt": f"scene {i}", "duration": 5 if i in (3, 6) else 4}) for i in range(8))
    )
    client = await clients()
    with pytest.raises(E.InvalidRequest) as bad:
        await client.enqueue_batch(read_batch(file), source="b.jsonl")
    lines = bad.value.message.splitlines()
    assert lines[0] == "b.jsonl: 2 bad lines, nothing was enqueued:"
    assert [line.split(": duration_seconds: 5 s is not supported")[0] for line in lines[1:]] == [
        "  b.jsonl:4",
        "  b.jsonl:7",
    ]
    assert await client.list_jobs() == []


def test_reading_a_batch_names_every_bad_line_a_screenful_at_most(tmp_path: Path) -> None:
    file = tmp_path / "b.jsonl"
    file.write_text('{"prompt": "ok"}\n' + '{"prompt": "x", "colour": "red"}\n' * 25 + '{"prompt": " "}\n')
    with pytest.raises(E.InvalidRequest) as bad:
        read_batch(file)
    lines = bad.value.message.splitlines()
    assert lines[0] == "b.jsonl: 26 bad lines, nothing was enqueued:" and bad.value.field == "colour"
    assert lines[1].startswith("  b.jsonl:2: unknown field 'colour'") and len(lines) == 1 + 20 + 1
    assert lines[-1] == "  … and 6 more"


async def test_a_rerun_of_an_interrupted_batch_records_only_the_rest(
    clients: Callable[..., Any], tmp_path: Path
) -> None:
    file = tmp_path / "b.jsonl"
    file.write_text("\n".join(json.dumps({"prompt": f"scene {i}", "duration": 4}) for i in range(5)) + "\n")
    client = await clients()
    first = await client.enqueue_batch(read_batch(file)[:2], source=file.name)  # as if it stopped after two
    again = await client.enqueue_batch(read_batch(file), source=file.name)
    assert (first.new, again.new, again.already) == (2, 3, 2)
    assert [j.id for j in again.jobs[:2]] == [j.id for j in first.jobs]
    assert sorted(j.id for j in await client.list_jobs()) == sorted(j.id for j in again.jobs)


async def test_following_stops_when_asked_and_leaves_the_jobs_queued(clients: Callable[..., Any]) -> None:
    client = await clients()
    job = await client.submit(FAST_4S)
    stop = asyncio.Event()
    stop.set()
    [after] = await asyncio.wait_for(client.follow([job.id], stop=stop), 10)
    assert after.state is S.QUEUED


# -- the shared job view ---------------------------------------------------------------------------------------
async def test_every_surface_shows_the_same_job_with_inputs_summarised(
    clients: Callable[..., Any], tmp_path: Path
) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), (10, 120, 200)).save(buf, format="PNG")
    frame = ImageInput.from_bytes(buf.getvalue(), name="first.png")
    client = await clients()
    job = await client.generate(FAST_4S.model_copy(update={"image": frame}))

    view = job_view(job, await client.events(job.id))
    text = json.dumps(view)
    assert frame.b64[:40] not in text  # the bytes never reach a surface
    image = view["request"]["image"]
    assert (image["mime_type"], image["name"], image["size_bytes"]) == ("image/png", "first.png", len(frame.data))
    assert image["sha256"] in (None, frame.sha256)
    assert view["results"][0]["path"] == job.results[0].path and view["events"][-1]["to_state"] == "succeeded"

    facts = agent_job_view(job, running_here=False)  # the agent's layer: the same facts, plus what to do next
    assert facts["videos"] == view["results"] and facts["job_id"] == view["id"]
    assert facts["estimate_usd"] == view["estimate_usd"] and "download_video" in facts["next"]


# -- resume ----------------------------------------------------------------------------------------------------
async def test_resume_past_the_deadline_holds_the_lease_so_a_worker_never_runs_the_job_too(tmp_path: Path) -> None:
    """The job was set aside at its deadline; the user resumes it while a worker watches the same store. The
    write that makes it running again takes its lease, so neither the worker nor anyone else can claim it."""
    with EmulatorServer(EmulatorConfig(latency_s=1000, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        impatient = VeoClient(settings_for(emu, tmp_path, job_deadline_s=0.3))
        patient = VeoClient(settings_for(emu, tmp_path, job_deadline_s=120))
        elsewhere = VeoClient(settings_for(emu, tmp_path))  # the worker's process
        for c in (impatient, patient, elsewhere):
            await c.start()
        try:
            job = await impatient.wait((await impatient.submit(FAST_4S)).id)
            assert job.state is S.NEEDS_ATTENTION and job.operation_name

            worker = elsewhere.worker(WorkerConfig(concurrency=4, lease_s=3.0, idle_s=0.02))
            working = asyncio.create_task(worker.run())
            polls = stats(emu)["polls"]
            resuming = asyncio.create_task(patient.resume(job.id))
            await eventually(lambda: stats(emu)["polls"] >= polls + 2)  # resume is polling the operation
            held = await patient.get_job(job.id)
            assert held.state is S.RUNNING and held.lease_owner == patient.owner
            assert await elsewhere._store.claim("a-third-worker", lease_s=3.0, job_ids=[job.id]) == []

            emu.state.clock.advance(2000)  # the operation finishes
            [done] = await asyncio.wait_for(resuming, 60)
            worker.stop()
            worker_stats = await asyncio.wait_for(working, 10)
            history = [e.message for e in await patient.events(job.id)]
        finally:
            for c in (impatient, patient, elsewhere):
                await c.aclose()
        assert done.state is S.SUCCEEDED and worker_stats.claimed == 0
        assert "resumed by the user" in history and not any("claimed by" in m for m in history)
        assert stats(emu)["submits_total"] == 1
