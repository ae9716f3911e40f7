"""The CLI as a user runs it: real subprocesses, real files, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from veokit.emulator import EmulatorServer
from veokit.media.probe import Expectation, verify_mp4

from .conftest import DEADLINE_NOT_UNDER_TEST_S, stats, until

VEOKIT = [sys.executable, "-m", "veokit.cli.main"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_"))}
    env.update(
        {
            "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
            "VEOKIT_DATA_DIR": str(tmp_path),
            "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
            "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_NOT_UNDER_TEST_S),
            "COLUMNS": "200",
        }
    )
    env.update(extra)
    return env


def veokit(tmp_path: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VEOKIT, *args], capture_output=True, text=True, timeout=timeout, env=env_for(tmp_path, **env), cwd=tmp_path
    )


def test_generate_with_in_process_emulator_needs_no_key(tmp_path: Path) -> None:
    p = veokit(
        tmp_path,
        "generate",
        "a red fox trotting through fresh snow",
        "--provider",
        "emulator",
        "--out",
        str(tmp_path / "out"),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    assert job["state"] == "succeeded"
    path = Path(job["results"][0]["path"])
    probe = verify_mp4(path, Expectation(width=1280, height=720, duration_s=8.0, audio=True))
    assert probe.video_codec == "h264" and probe.audio_codec == "aac"


def test_dry_run_prices_and_spends_nothing(tmp_path: Path) -> None:
    p = veokit(
        tmp_path,
        "generate",
        "x",
        "--provider",
        "emulator",
        "--resolution",
        "1080p",
        "--model",
        "veo-3.1-generate-001",
        "--samples",
        "2",
        "--dry-run",
    )
    assert p.returncode == 0, p.stderr
    assert "$6.40" in p.stdout and "nothing was sent" in p.stdout
    listed = veokit(tmp_path, "jobs", "list", "--json")
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--aspect", "1:1"], "aspect_ratio"),
        (["--resolution", "4k", "--duration", "4", "--model", "veo-3.1-generate-001"], "8 s"),
        (["--model", "veo-3.0-generate-001"], "veo-3.1-generate-001"),
        (["--image", "missing.png"], "no such file"),
        (["--seed", "-1"], "seed"),
        (["--provider", "nope"], "unknown provider"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    p = veokit(tmp_path, "generate", "x", "--provider", "emulator", *args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len([line for line in p.stderr.splitlines() if line.strip()]) == 1


def test_no_provider_and_no_credentials_says_what_to_do(tmp_path: Path) -> None:
    p = veokit(tmp_path, "generate", "x")
    assert p.returncode == 2 and "--provider emulator" in p.stderr and "Traceback" not in p.stderr


def test_invalid_config_is_reported(tmp_path: Path) -> None:
    p = veokit(tmp_path, "generate", "x", VEOKIT_POLL_SCALE="-3")
    assert p.returncode == 2 and "VEOKIT_POLL_SCALE" in p.stderr


def test_filtered_exit_code(tmp_path: Path) -> None:
    p = veokit(tmp_path, "generate", "x [emulate:filtered]", "--provider", "emulator")
    assert p.returncode == 4 and "safety filter" in p.stderr


def test_models_table(tmp_path: Path) -> None:
    p = veokit(tmp_path, "models")
    assert p.returncode == 0
    for text in ("veo-3.1-generate-001", "veo-3.1-lite-generate-001", "retired", "0.40"):
        assert text in p.stdout


def test_sigkill_while_polling_then_resume_submits_once(tmp_path: Path) -> None:
    from veokit.emulator import EmulatorConfig

    with EmulatorServer(EmulatorConfig(latency_s=0.1), port=0) as emu:
        env = {
            "VEOKIT_PROVIDER": "vertex",
            "VEOKIT_VERTEX_BASE_URL": emu.base_url,
            "VEOKIT_VERTEX_PROJECT": "proj",
            "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
            "VEOKIT_POLL_SCALE": "0.01",
        }
        running = emu.state.holds.add()  # the operation runs until the process is dead, however slow it is
        proc = subprocess.Popen(
            [*VEOKIT, "generate", "a slow sunrise", "--out", str(tmp_path / "v")],
            env=env_for(tmp_path, **env),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            until(lambda: len(running.held) == 1)  # submitted, its operation name stored, and polled
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        [job] = json.loads(veokit(tmp_path, "jobs", "list", "--json", **env).stdout)
        assert job["state"] == "running" and stats(emu)["submits_total"] == 1
        emu.state.holds.release(running.id)

        p = veokit(tmp_path, "resume", "--json", **env)
        assert p.returncode == 0, p.stderr
        [job] = json.loads(p.stdout)
        assert job["state"] == "succeeded"
        verify_mp4(Path(job["results"][0]["path"]), Expectation(width=1280, height=720, duration_s=8.0))
        assert stats(emu)["submits_total"] == 1

        again = veokit(tmp_path, "resume", **env)
        assert again.returncode == 0 and "nothing to resume" in again.stdout
        assert stats(emu)["submits_total"] == 1


def test_crash_mid_submit_needs_attention_not_resubmit(tmp_path: Path) -> None:
    """A job left in `submitting` (crash during the paid call) is never resubmitted automatically."""
    import asyncio

    from veokit.config import Settings
    from veokit.models.job import JobState
    from veokit.models.request import GenerateRequest
    from veokit.service.client import VeoClient

    async def go() -> None:
        s = Settings(provider="emulator", database_url=f"sqlite:///{tmp_path / 'jobs.db'}", out_dir=tmp_path)
        async with VeoClient(s) as c:
            job = await c.submit(GenerateRequest(prompt="x"), provider="vertex")
            await c._store.transition(job.id, expect=JobState.QUEUED, to=JobState.SUBMITTING)

    asyncio.run(go())
    p = veokit(
        tmp_path,
        "resume",
        "--json",
        VEOKIT_VERTEX_PROJECT="p",
        VEOKIT_VERTEX_ACCESS_TOKEN="t",
        VEOKIT_VERTEX_BASE_URL="http://127.0.0.1:9",
    )
    [job] = json.loads(p.stdout)
    assert job["state"] == "needs_attention" and "jobs retry" in json.dumps(job)
    assert p.returncode == 6, p.stderr  # needs your decision: the same code `generate` exits with
    abandon = veokit(tmp_path, "jobs", "abandon", job["id"])
    assert abandon.returncode == 0 and "abandoned" in abandon.stdout
