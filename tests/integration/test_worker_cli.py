"""`veokit enqueue`, `veokit worker` and `veokit costs` as subprocesses: ids at once, idempotent keys, dedup,
graceful SIGTERM, and the cost summary."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from veokit.emulator import EmulatorConfig, EmulatorServer

from .conftest import BEFORE_GEMINI_SHUTDOWN, DEADLINE_NOT_UNDER_TEST_S, stats, until
from .test_cli import VEOKIT, env_for, veokit


def vertex_env(emu: EmulatorServer, **extra: str) -> dict[str, str]:
    return {
        "VEOKIT_PROVIDER": "vertex",
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "p",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
        "VEOKIT_POLL_SCALE": "0.01",
        "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_NOT_UNDER_TEST_S),
        "VEOKIT_RATE_LIMIT": "off",
        **extra,
    }


def jobs(tmp_path: Path, env: dict[str, str]) -> list[dict[str, object]]:
    return list(json.loads(veokit(tmp_path, "jobs", "list", "--json", **env).stdout))


def test_enqueue_prints_an_id_keys_are_idempotent_and_seeded_repeats_are_reused(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.3, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        env = vertex_env(emu)
        first = veokit(tmp_path, "enqueue", "a red kite", "-d", "4", "--seed", "5", "--client-key", "k-1", **env)
        assert first.returncode == 0, first.stderr
        job_id = first.stdout.strip()
        assert job_id.startswith("job_") and len(first.stdout.splitlines()) == 1
        again = veokit(tmp_path, "enqueue", "something else", "--client-key", "k-1", **env)
        assert again.stdout.strip() == job_id
        assert stats(emu)["submits_total"] == 0  # enqueueing pays nothing

        run = veokit(tmp_path, "worker", "--drain", **env)
        assert run.returncode == 0, run.stderr
        assert f"{job_id}: succeeded" in run.stderr and "finished: 1 succeeded" in run.stderr
        assert stats(emu)["submits_total"] == 1

        reused = veokit(tmp_path, "enqueue", "a red kite", "-d", "4", "--seed", "5", "--json", **env)
        doc = json.loads(reused.stdout)
        assert (doc["state"], doc["cost_usd"]) == ("succeeded", 0.0)
        assert Path(doc["results"][0]["path"]).is_file()
        fresh = veokit(tmp_path, "enqueue", "a red kite", "-d", "4", "--seed", "5", "--fresh", "--json", **env)
        assert json.loads(fresh.stdout)["state"] == "queued"
        assert stats(emu)["submits_total"] == 1

        bad = veokit(tmp_path, "enqueue", "x", "--duration", "5", **env)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_sigterm_stops_claiming_releases_leases_and_another_worker_finishes(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        env = vertex_env(emu)
        for i in range(4):
            assert veokit(tmp_path, "enqueue", f"slow scene {i % 2}", "-d", "4", **env).returncode == 0
        running = emu.state.holds.add()  # the four jobs stay running until the worker has stopped
        proc = subprocess.Popen(
            [*VEOKIT, "worker", "-c", "10"],
            env=env_for(tmp_path, **env),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            until(lambda: len(running.held) == 4)  # all four submitted and polling
            proc.send_signal(signal.SIGTERM)
            # Polling jobs are interrupted at once (tests/integration/test_worker.py proves it on a clock that
            # does not move); the bound here only turns a hang into a failure.
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:  # never leave a worker behind
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "stopping" in err and "released 4" in err and "still submitting" not in err
        emu.state.holds.release(running.id)
        listed = jobs(tmp_path, env)
        assert {j["state"] for j in listed} == {"running"} and {j["lease_owner"] for j in listed} == {None}

        after = veokit(tmp_path, "worker", "--drain", **env)  # no wait for leases to expire
        assert after.returncode == 0, after.stderr
        assert {j["state"] for j in jobs(tmp_path, env)} == {"succeeded"}
        assert stats(emu)["submits_total"] == 4

        costs = veokit(tmp_path, "costs", "--json", **env)
        doc = json.loads(costs.stdout)
        [row] = doc["rows"]
        assert (row["provider"], row["submits"], row["spent_usd"]) == ("vertex", 4, 1.6)
        table = veokit(tmp_path, "costs", **env)
        assert "total spent $1.60" in table.stdout and "vertex" in table.stdout


def test_bad_worker_options_are_one_line(tmp_path: Path) -> None:
    p = veokit(tmp_path, "worker", "--concurrency", "0")
    assert p.returncode == 2 and "concurrency" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = veokit(tmp_path, "costs", "--days", "-1")
    assert p.returncode == 2 and "--days" in p.stderr
