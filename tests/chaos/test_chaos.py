"""Chaos: three worker processes SIGKILLed again and again while jobs arrive, on PostgreSQL and on SQLite, with
CPU burners alongside when asked for (VEOKIT_CHAOS_BURNERS=4: load well above the cores). At the end no job is
lost, none was paid for twice, every MP4 is valid, and no job needed a human: a job found mid-submit continues
the operation its dead or lease-less worker recorded, or is looked up at the provider (the emulator's listing).

By default the run is small enough for CI (4 waves of 10 jobs on each store); the run issue 10 was checked with is
``VEOKIT_CHAOS_WAVES=12 VEOKIT_CHAOS_JOBS_PER_WAVE=20 VEOKIT_CHAOS_BURNERS=4``. Whatever the size, two kills are
made certain rather than left to chance: the first lands on a worker holding a job (its lease is lost and the job
taken over), the second on a worker whose paid submit is in flight (accepted and billed at the emulator, the answer
not yet sent), which is the kill that could make veokit pay twice. The other kills land wherever the fleet is.

The schedule is driven by progress, not by the wall clock, so the test means the same on a fast machine and
on one so loaded that a worker takes 15 s to start: jobs arrive in waves, and after each wave one worker is
killed once the fleet has made progress since the last kill (a restarted worker is not killed again before
anything happened), preferably one that holds a lease right then. The first kill is made certain to land on
a worker holding a job (wave 0's operations are held running at the emulator until it has), so at least one
job is taken over from a dead worker (unless every wave-0 job was set aside for a decision first: then the
kill waits for nothing, and the result's takeovers come from later kills). The second is made certain to land
mid-submit: wave 1's submits are parked at the emulator after it accepted them, and a worker with a job in
``submitting`` is killed right then. Waiting is bounded only by a stall
detector: the test fails when nothing at all changes for STALL_S, never because the machine is slow.

Each job's request carries its own ``storage_uri`` (``gs://chaos/job-N``): it does not change the render (the
emulator caches renders by prompt, seed and parameters, so four prompts render four times in all) but it names
the job in the emulator's operation table, which is what lets the test prove *exactly one* accepted submit per
job rather than only the total.

A kill that lands between ``submitting`` and ``running`` (the paid call in flight) leaves a job whose submit
may or may not have reached the provider; so does, occasionally, a submit sent on a keep-alive connection the
server closed at that very moment. veokit never resubmits those blindly: it continues what was recorded, or asks
the provider. Should any job still need a decision, the test fails after doing what the user would (attach
the operation the emulator lists, or retry), so that the failure says how many needed one and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, verify_mp4
from veokit.models.job import Job, JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient
from veokit.store import SqlJobStore
from veokit.store.schema import budget_ledger, job_events, jobs

S = JobState
SUBMITTING = frozenset({S.SUBMITTING})
PG_URL = os.environ.get("VEOKIT_TEST_PG_URL")
PROMPTS = ["a paper boat on a pond", "neon rain on a night street", "a fox in fresh snow", "a lighthouse at dusk"]
LEASE_S = 3.0
SEED = 20261122
MAX_DECISION_ROUNDS = 5
# Four busy loops alongside (DEVELOPERS.md's loaded machine) when VEOKIT_CHAOS_BURNERS=4: how issue 10 is
# checked. Off by default: on CI's two cores they would push the run past the suite's budget.
BURNERS = int(os.environ.get("VEOKIT_CHAOS_BURNERS", "0"))
# How much chaos: kills (one per wave) and jobs. Small by default (CI's budget); see the module docstring.
WAVES = int(os.environ.get("VEOKIT_CHAOS_WAVES", "4"))
JOBS_PER_WAVE = int(os.environ.get("VEOKIT_CHAOS_JOBS_PER_WAVE", "10"))
STALL_S = 300.0  # nothing changed in the store or at the emulator for this long: a hang, not slowness


def env_for(tmp_path: Path, emu: EmulatorServer, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_"))}
    env.update(
        {
            "VEOKIT_DATABASE_URL": database_url,
            "VEOKIT_DATA_DIR": str(tmp_path),
            "VEOKIT_CONFIG": "/nonexistent",
            "VEOKIT_OUT_DIR": str(tmp_path / "videos"),
            "VEOKIT_PROVIDER": "vertex",
            "VEOKIT_VERTEX_BASE_URL": emu.base_url,
            "VEOKIT_VERTEX_PROJECT": "chaos",
            "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
            "VEOKIT_POLL_SCALE": "0.05",
            "VEOKIT_RATE_LIMIT": "off",
            "VEOKIT_JOB_DEADLINE_S": "600",  # kills and lease expiries stretch jobs; the deadline is not under test
        }
    )
    return env


@dataclass
class Fleet:
    """Worker subprocesses that can be killed and restarted."""

    n: int
    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0
    started: int = 0

    def start_all(self) -> None:
        self.procs = [self._spawn(i) for i in range(self.n)]

    def _spawn(self, i: int) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.logs / f"worker-{i}-{self.started}.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "veokit.cli.main", "worker", "-c", "100", "--lease", str(LEASE_S)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill_and_restart(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()
        self.kills += 1
        self.procs[i] = self._spawn(i)

    def holding(self, jobs: list[Job], states: frozenset[JobState] | None = None) -> list[int]:
        """The workers that hold the lease of an unfinished job (in one of ``states``) right now (owner ids are
        host:pid:…)."""
        owners = {
            j.lease_owner for j in jobs if j.state.active and j.lease_owner and (states is None or j.state in states)
        }
        return [i for i, p in enumerate(self.procs) if any(f":{p.pid}:" in owner for owner in owners)]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(sig)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def operations_by_job(emu: EmulatorServer) -> dict[str, list[str]]:
    """Accepted submits per job, from the emulator's own table (storage_uri gs://chaos/job-N)."""
    found: dict[str, list[str]] = {}
    for op in list(emu.state.operations.values()):
        uri = op.request.storage_uri or ""
        found.setdefault(uri.rstrip("/").rsplit("/", 1)[-1], []).append(op.name)
    return found


class Watch:
    """What the test waits on: the jobs in the store and the emulator's counters; and when they last changed."""

    def __init__(self, client: VeoClient, emu: EmulatorServer, ids: list[str]) -> None:
        self.client, self.emu, self.ids = client, emu, ids
        self.jobs: list[Job] = []
        self._seen: object = None
        self._changed_at = time.monotonic()

    async def look(self) -> list[Job]:
        self.jobs = await self.client.get_many(self.ids)
        st = self.emu.stats()
        marker = (
            sorted(Counter(j.state.value for j in self.jobs).items()),
            max((j.updated_at for j in self.jobs), default=None),
            st["submits_total"],
            st["polls"],
            st["downloads"],
        )
        if marker != self._seen:
            self._seen, self._changed_at = marker, time.monotonic()
        elif time.monotonic() - self._changed_at > STALL_S:
            states = dict(Counter(j.state.value for j in self.jobs))
            why = dict(Counter(reason(j) for j in self.jobs if j.state is S.NEEDS_ATTENTION))
            pytest.fail(f"no progress for {STALL_S:.0f} s: {states}; needing attention because: {why}")
        return self.jobs

    def progress(self) -> int:
        """A number that only grows while the fleet works: what the emulator has been asked to do."""
        st = self.emu.stats()
        return int(st["submits_total"] + st["polls"] + st["downloads"])

    async def until(self, condition: Callable[[list[Job]], object]) -> list[Job]:
        """Look again and again (the store is shared with other processes: there is nothing to be woken by)."""
        while True:
            if condition(jobs := await self.look()):
                return jobs
            await asyncio.sleep(0.1)


def reason(job: Job) -> str:
    """Why a job needs the user, in a few words (the first clause of its error)."""
    message = str((job.error or {}).get("message", ""))
    return message.split(";")[0].split(". ")[0][:90]


async def describe(client: VeoClient, jobs: list[Job]) -> list[tuple[str, str, list[str]]]:
    """Each job's state and last events, for a failure message that says what happened to it."""
    return [(j.id, j.state.value, [e.message[:160] for e in (await client.events(j.id))[-4:]]) for j in jobs]


async def settle(watch: Watch) -> list[Job]:
    """Wait until no job is active."""
    return await watch.until(lambda jobs: not any(j.state.active for j in jobs))


@contextlib.contextmanager
def cpu_burners(n: int = BURNERS) -> Iterator[None]:
    """``n`` busy-looping processes: the loaded machine on which leases used to be lost mid-submit."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait()


async def run_chaos(tmp_path: Path, database_url: str, *, workers: int, n_jobs: int, waves: int) -> dict[str, Any]:
    assert waves >= 2 and n_jobs >= waves, "the two certain kills need two waves, each with a job"
    with cpu_burners():
        result = await _run_chaos(tmp_path, database_url, workers=workers, n_jobs=n_jobs, waves=waves)
        return result | {"load_avg_1m": round(os.getloadavg()[0], 1)}


async def _run_chaos(tmp_path: Path, database_url: str, *, workers: int, n_jobs: int, waves: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    config = EmulatorConfig(latency_range_s=(1.0, 4.0), storage_dir=tmp_path / "emulator", seed=SEED)
    with EmulatorServer(config, port=0) as emu:
        env = env_for(tmp_path, emu, database_url)
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path,
            out_dir=tmp_path / "videos",
            provider="vertex",
            vertex_base_url=emu.base_url,
            vertex_project="chaos",
            vertex_access_token="test-token",
            rate_limit="off",
        )
        (tmp_path / "logs").mkdir()
        fleet = Fleet(workers, env, tmp_path / "logs")
        try:
            return await _run(
                client_settings=settings,
                fleet=fleet,
                emu=emu,
                rng=rng,
                n_jobs=n_jobs,
                waves=waves,
                workers=workers,
            )
        finally:
            fleet.stop(signal.SIGKILL)  # on failure too: workers left running would claim the next test's jobs


async def _run(
    *,
    client_settings: Settings,
    fleet: Fleet,
    emu: EmulatorServer,
    rng: random.Random,
    n_jobs: int,
    waves: int,
    workers: int,
) -> dict[str, Any]:
    async with VeoClient(client_settings) as client:
        if isinstance(client._store, SqlJobStore):
            async with client._store.engine.begin() as conn:  # a disposable database: start empty
                for table in (budget_ledger, job_events, jobs):
                    await conn.execute(sa.delete(table))
        fleet.start_all()
        t0 = time.monotonic()
        ids: list[str] = []
        watch = Watch(client, emu, ids)
        first_kill = emu.state.holds.add()  # wave 0's operations run until the first kill has landed
        mark = -1
        mid_submit = 0
        # Jobs arrive in waves while workers are being killed, so kills land mid-claim, mid-submit,
        # mid-poll and mid-download.
        per_wave = n_jobs // waves
        for wave in range(waves):
            # Wave 1's submits are accepted and billed, then parked before the answer: a paid call in flight.
            in_flight = emu.state.holds.add("submit", when="after_body") if wave == 1 else None
            for k in range(per_wave):
                i = wave * per_wave + k
                request = GenerateRequest(
                    prompt=PROMPTS[i % len(PROMPTS)], duration_seconds=4, seed=7, storage_uri=f"gs://chaos/job-{i}"
                )
                ids.append((await client.submit(request, fresh=True, client_key=f"chaos-{i}")).id)
            if wave == 0:
                # Certain to kill a worker while it holds a job: that job must be taken over. Unless no job is
                # active any more (all set aside for the user's decision, made below): then nothing can be held.
                await watch.until(
                    lambda jobs: (first_kill.held and fleet.holding(jobs)) or not any(j.state.active for j in jobs)
                )
            elif in_flight is not None:
                # Certain to kill a worker while its submit is in flight (parked at the emulator after it was
                # accepted): the job it leaves in `submitting` must be found at the provider, not paid again.
                await watch.until(lambda jobs, h=in_flight: h.waiting and fleet.holding(jobs, SUBMITTING))
                [victim, *_] = fleet.holding(watch.jobs, SUBMITTING)
                fleet.kill_and_restart(victim)
                mid_submit += 1
                emu.state.holds.release(in_flight.id)
                mark = watch.progress()
                continue
            else:
                # Something happened since the last kill (a restarted worker is not killed before it could work),
                # or everything is done already.
                await watch.until(
                    lambda jobs, since=mark: watch.progress() > since or not any(j.state.active for j in jobs)
                )
            busy = fleet.holding(watch.jobs)
            fleet.kill_and_restart(rng.choice(busy) if busy else rng.randrange(fleet.n))
            mark = watch.progress()
            if wave == 0:
                emu.state.holds.release(first_kill.id)
        await settle(watch)
        kills = fleet.kills

        # The user's decisions for jobs whose submit outcome is unknown (see the module docstring), for as long
        # as some need one: a retried job can need one again (a lease lost mid-submit on a loaded machine).
        index = {job_id: i for i, job_id in enumerate(ids)}
        reconciled = retried = rounds = 0
        why: Counter[str] = Counter()
        final = watch.jobs
        while attention := [j for j in final if j.state is S.NEEDS_ATTENTION]:
            rounds += 1
            assert rounds <= MAX_DECISION_ROUNDS, f"still needing attention: {await describe(client, attention)}"
            by_job = operations_by_job(emu)
            for job in attention:
                # Found mid-submit after a kill or a lost lease, or a connection cut after the request was sent
                # (an idle keep-alive connection closed by the server as the submit went out): outcome unknown.
                assert (job.error or {}).get("type") == "SubmitOutcomeUnknown", job.error
                why[reason(job)] += 1
                ops = by_job.get(f"job-{index[job.id]}", [])
                assert len(ops) <= 1, (job.id, ops)
                if ops:
                    await client.reconcile(job.id, ops[0])
                    reconciled += 1
                else:
                    await client.retry(job.id)
                    retried += 1
            final = await settle(watch)
        elapsed = time.monotonic() - t0
        fleet.stop()

        by_job = operations_by_job(emu)
        states = Counter(j.state.value for j in final)
        unfinished = [j for j in final if j.state is not S.SUCCEEDED]
        assert states == {"succeeded": n_jobs}, (states, await describe(client, unfinished))
        submits = emu.stats()["submits_total"]
        assert submits == n_jobs, f"{submits} accepted submits for {n_jobs} jobs"
        for job in final:
            ops = by_job[f"job-{index[job.id]}"]
            assert ops == [job.operation_name], (job.id, ops, job.operation_name)
            verify_mp4(Path(job.results[0].path), Expectation(width=1280, height=720, duration_s=4.0))
        takeovers = 0
        for job in final:
            takeovers += sum("lease of" in e.message for e in await client.events(job.id))
    return {
        "jobs": n_jobs,
        "kills": kills,
        "kills_mid_submit": mid_submit,
        "restarts": fleet.started - workers,
        "reconciled": reconciled,
        "retried": retried,
        "needed_attention": reconciled + retried,
        "decision_rounds": rounds,
        "needed_attention_because": dict(why),
        "takeovers": takeovers,
        "elapsed_s": round(elapsed, 1),
        "submits": submits,
        "renders": emu.stats()["renders_started"],
    }


@pytest.mark.postgres
async def test_three_workers_on_postgresql_under_sigkill(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("set VEOKIT_TEST_PG_URL to a disposable PostgreSQL database to run the chaos test")
    result = await run_chaos(tmp_path, PG_URL, workers=3, n_jobs=WAVES * JOBS_PER_WAVE, waves=WAVES)
    print(f"\nchaos (PostgreSQL, 3 workers, {BURNERS} CPU burners): {result}")
    assert result["kills"] == WAVES and result["kills_mid_submit"] == 1 and result["takeovers"] >= 1
    assert result["needed_attention"] == 0, result


async def test_three_workers_on_sqlite_under_sigkill(tmp_path: Path) -> None:
    result = await run_chaos(
        tmp_path, f"sqlite:///{tmp_path / 'jobs.db'}", workers=3, n_jobs=WAVES * JOBS_PER_WAVE, waves=WAVES
    )
    print(f"\nchaos (SQLite, 3 workers, {BURNERS} CPU burners): {result}")
    assert result["kills"] == WAVES and result["kills_mid_submit"] == 1 and result["takeovers"] >= 1
    assert result["needed_attention"] == 0, result
