"""A service restarted after a crash continues its previous process's jobs at once, not when their leases expire:
the instance slot names the dead process (veokit.service.instance), its worker takes that owner's leases over."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import openai

from veokit.emulator import EmulatorServer
from veokit.models.request import GenerateRequest
from veokit.service import InstanceSlot, JobState, VeoClient, WorkerConfig

from .conftest import settings_for, stats, until
from .service_fixtures import InProcessService, make_key

# A process holding slot 0 as a running service does (plain Python: the subject is acquire() in this process).
HOLD_SLOT = """
import fcntl, pathlib, sys, time
path = pathlib.Path(sys.argv[1]) / "instances" / "serve-0.owner"
path.parent.mkdir(parents=True, exist_ok=True)
handle = open(path, "a+")
fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
handle.write(sys.argv[2])
handle.flush()
print(path.name, flush=True)
time.sleep(600)
"""


def test_a_slot_names_the_owner_of_a_killed_process_and_skips_a_live_ones(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_SLOT, str(tmp_path), "host:1:serve-before"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "serve-0.owner"
        beside = InstanceSlot.acquire(tmp_path, "serve")  # the live process keeps slot 0
        assert beside is not None and (beside.path.name, beside.previous) == ("serve-1.owner", None)
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
        after = InstanceSlot.acquire(tmp_path, "serve")
        assert after is not None and (after.path.name, after.previous) == ("serve-0.owner", "host:1:serve-before")
        after.release()
        beside.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)


async def test_a_worker_takes_over_a_dead_owners_leases_before_they_expire(emu: EmulatorServer, tmp_path: Path) -> None:
    async with VeoClient(settings_for(emu, tmp_path)) as client:
        jobs = [await client.submit(GenerateRequest(prompt=f"held {i}", duration_seconds=4)) for i in range(2)]
        held = await client._store.claim("serve-dead", lease_s=3600, limit=2)
        assert {j.id for j in held} == {j.id for j in jobs}
        config = WorkerConfig(concurrency=4, lease_s=30, idle_s=0.05, drain=True, take_over="serve-dead")
        # Without take_over the leases hold for an hour and the drain never ends.
        result = await asyncio.wait_for(client.worker(config).run(), 60)
        assert result.finished == {"succeeded": 2}
        assert {j.state for j in await client.get_many([j.id for j in jobs])} == {JobState.SUCCEEDED}
    assert stats(emu)["submits_total"] == 2


def test_the_service_continues_its_dead_previous_process_jobs_at_once(emu: EmulatorServer, tmp_path: Path) -> None:
    """As after a SIGKILL: a job leased for an hour to the owner written in a slot nobody holds."""
    settings = settings_for(emu, tmp_path)
    made = make_key(settings, "restart")
    slot = Path(settings.data_dir) / "instances" / "serve-0.owner"
    slot.parent.mkdir(parents=True)
    slot.write_text("host:1:serve-before")

    async def crashed() -> str:
        async with VeoClient(settings) as client:
            plan = client.plan(GenerateRequest(prompt="a lighthouse in a storm", duration_seconds=4))
            job = await client.tenants.submit(made.key, plan)
            [held] = await client._store.claim("host:1:serve-before", lease_s=3600, job_ids=[job.id])
            return held.id

    job_id = asyncio.run(crashed())
    svc = InProcessService(settings).start()
    try:
        client = openai.OpenAI(base_url=f"{svc.url}/v1", api_key=made.secret, max_retries=0)
        until(lambda: client.videos.retrieve(job_id).status == "completed", timeout_s=60)
        assert stats(emu)["submits_total"] == 1
        assert slot.read_text() == svc.app.state.veokit.worker.owner  # for the next restart to find
    finally:
        svc.stop()
