"""`veokit batch FILE` as a user runs it: enqueue idempotently, run, re-run safely, report, respect budgets."""

from __future__ import annotations

import io
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, verify_mp4

from .conftest import BEFORE_GEMINI_SHUTDOWN, stats, until
from .test_cli import VEOKIT, env_for, veokit


@pytest.fixture
def emu_env() -> Iterator[tuple[EmulatorServer, dict[str, str]]]:
    with EmulatorServer(EmulatorConfig(latency_s=0.3, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        yield (
            emu,
            {
                "VEOKIT_PROVIDER": "vertex",
                "VEOKIT_VERTEX_BASE_URL": emu.base_url,
                "VEOKIT_VERTEX_PROJECT": "proj",
                "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
                "VEOKIT_POLL_SCALE": "0.01",
                "VEOKIT_RATE_LIMIT": "off",
                # Not under test: long enough that a loaded machine's late heartbeats lose no lease mid-submit.
                "VEOKIT_WORKER_LEASE_S": "30",
            },
        )


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("# a comment, then a blank line\n\n" + "\n".join(json.dumps(r) for r in rows) + "\n")
    return path


ROWS: list[dict[str, object]] = [
    {"prompt": "a lighthouse at dusk", "duration": 4},
    {"prompt": "a lighthouse at dusk", "duration": 4, "aspect": "9:16"},
    {"prompt": "rain on a tin roof", "duration_seconds": 4, "seed": 11},
    {"prompt": "a lighthouse at dusk", "duration": 4, "no_audio": True, "model": "veo-3.1-fast-generate-001"},
]


def test_batch_runs_every_line_and_a_rerun_enqueues_nothing(
    tmp_path: Path, emu_env: tuple[EmulatorServer, dict[str, str]]
) -> None:
    emu, env = emu_env
    file = write_jsonl(tmp_path / "shots.jsonl", ROWS)
    p = veokit(tmp_path, "batch", str(file), "--json", **env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [j["line"] for j in doc["jobs"]] == [3, 4, 5, 6]
    assert {j["state"] for j in doc["jobs"]} == {"succeeded"}
    assert doc["status"]["spent_usd"] == pytest.approx(sum(j["cost_usd"] for j in doc["jobs"]))
    for job in doc["jobs"]:
        verify_mp4(Path(job["files"][0]), Expectation(width=None, height=None, duration_s=4.0))
    assert stats(emu)["submits_total"] == 4

    again = veokit(tmp_path, "batch", str(file), **env)
    assert again.returncode == 0, again.stderr
    assert "0 enqueued now, 4 already enqueued" in again.stderr
    assert "4/4 finished" in again.stdout
    assert stats(emu)["submits_total"] == 4

    # The seeded line, in another file: answered with the earlier video, for nothing.
    other = write_jsonl(tmp_path / "more.jsonl", [ROWS[2]])
    p = veokit(tmp_path, "batch", str(other), "--json", **env)
    [job] = json.loads(p.stdout)["jobs"]
    assert job["state"] == "succeeded" and job["cost_usd"] == 0.0
    assert stats(emu)["submits_total"] == 4
    fresh = veokit(tmp_path, "batch", str(other), "--fresh", "--json", **env)
    assert json.loads(fresh.stdout)["jobs"][0]["job_id"] == job["job_id"]  # same line, same key: same job


def test_csv_batches_resolve_paths_next_to_the_file(
    tmp_path: Path, emu_env: tuple[EmulatorServer, dict[str, str]]
) -> None:
    emu, env = emu_env
    frame = tmp_path / "in" / "first.png"
    frame.parent.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), (200, 40, 40)).save(buf, format="PNG")
    frame.write_bytes(buf.getvalue())
    (tmp_path / "in" / "b.csv").write_text(
        "prompt,duration,aspect,image,out\n"
        "a red square wakes up,4,16:9,first.png,clips\n"
        '"a quiet, empty street",6,9:16,,clips\n'
    )
    p = veokit(tmp_path, "batch", str(tmp_path / "in" / "b.csv"), "--json", **env)
    assert p.returncode == 0, p.stderr
    jobs = json.loads(p.stdout)["jobs"]
    assert [j["line"] for j in jobs] == [2, 3] and {j["state"] for j in jobs} == {"succeeded"}
    assert all(Path(j["files"][0]).parent == tmp_path / "in" / "clips" for j in jobs)
    assert stats(emu)["submits_total"] == 2


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"prompt": "ok", "duration": 4}\n{"prompt": "bad", "duration": 5}\n', "b.jsonl:2: duration_seconds"),
        ('{"prompt": "ok"}\nnot json\n', "b.jsonl:2: not valid JSON"),
        ('{"prompt": "ok", "colour": "red"}\n', "b.jsonl:1: unknown field 'colour'"),
        ('{"prompt": "ok", "image": "missing.png"}\n', "b.jsonl:1: image: no such file"),
        ("", "has no requests"),
    ],
)
def test_a_bad_line_is_reported_and_nothing_is_enqueued(
    tmp_path: Path, emu_env: tuple[EmulatorServer, dict[str, str]], content: str, needle: str
) -> None:
    _, env = emu_env
    (tmp_path / "b.jsonl").write_text(content)
    p = veokit(tmp_path, "batch", str(tmp_path / "b.jsonl"), **env)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len([line for line in p.stderr.splitlines() if line.strip()]) == 1
    assert json.loads(veokit(tmp_path, "jobs", "list", "--json", **env).stdout) == []


def test_an_interrupted_batch_finishes_on_rerun_without_paying_twice(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        env = {
            "VEOKIT_PROVIDER": "vertex",
            "VEOKIT_VERTEX_BASE_URL": emu.base_url,
            "VEOKIT_VERTEX_PROJECT": "p",
            "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
            "VEOKIT_POLL_SCALE": "0.01",
            "VEOKIT_RATE_LIMIT": "off",
            "VEOKIT_WORKER_LEASE_S": "2",  # the re-run waits out the killed process's leases: keep them short
        }
        file = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"scene {i % 2}", "duration": 4} for i in range(6)])
        running = emu.state.holds.add()  # every operation runs until the batch process is dead
        proc = subprocess.Popen(
            [*VEOKIT, "batch", str(file)],
            env=env_for(tmp_path, **env),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            until(lambda: len(running.held) == 6)  # every job submitted and polling
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert stats(emu)["submits_total"] == 6
        emu.state.holds.release(running.id)
        p = veokit(tmp_path, "batch", str(file), "--json", **env)  # waits out the dead process's 2 s leases
        assert p.returncode == 0, p.stderr
        assert {j["state"] for j in json.loads(p.stdout)["jobs"]} == {"succeeded"}
        assert stats(emu)["submits_total"] == 6


def test_a_budget_cap_below_the_batch_total_stops_at_the_cap(
    tmp_path: Path, emu_env: tuple[EmulatorServer, dict[str, str]]
) -> None:
    emu, env = emu_env
    file = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"scene {i % 2}", "duration": 4} for i in range(5)])
    p = veokit(tmp_path, "batch", str(file), VEOKIT_BUDGET_DAILY_USD="1.00", **env)  # $0.40 each: 2 fit
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "held back by budget" in p.stdout and "3 held back by the budget" in p.stdout
    assert stats(emu)["submits_total"] == 2
    costs = json.loads(veokit(tmp_path, "costs", "--json", VEOKIT_BUDGET_DAILY_USD="1.00", **env).stdout)
    assert costs["committed_today_usd"] == pytest.approx(0.8) and costs["queued_jobs"] == 3
    assert costs["caps"]["daily_usd"] == 1.0
    # Raising the cap lets the same command finish the batch.
    p = veokit(tmp_path, "batch", str(file), VEOKIT_BUDGET_DAILY_USD="5", **env)
    assert p.returncode == 0, p.stderr
    assert stats(emu)["submits_total"] == 5


def test_a_line_over_the_per_job_cap_is_refused_before_anything_is_enqueued(
    tmp_path: Path, emu_env: tuple[EmulatorServer, dict[str, str]]
) -> None:
    _, env = emu_env
    file = write_jsonl(
        tmp_path / "b.jsonl",
        [{"prompt": "ok", "duration": 4}, {"prompt": "pricey", "duration": 8, "resolution": "1080p"}],
    )
    p = veokit(tmp_path, "batch", str(file), VEOKIT_BUDGET_PER_JOB_USD="0.5", **env)
    assert p.returncode == 2 and "b.jsonl:4: budget: the request is estimated at $0.96" in p.stderr
    assert json.loads(veokit(tmp_path, "jobs", "list", "--json", **env).stdout) == []
