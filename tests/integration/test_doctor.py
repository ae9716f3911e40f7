"""`veokit doctor` and the emulator's fault flags, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from veokit.emulator import EmulatorConfig, EmulatorServer

from .test_cli import veokit


def test_doctor_with_a_bad_key_is_one_clear_line_and_no_key(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1), port=0) as emu:
        p = veokit(
            tmp_path,
            "doctor",
            "--provider",
            "vertex",
            VEOKIT_VERTEX_BASE_URL=emu.base_url,
            VEOKIT_VERTEX_API_KEY="AIzaSyBadBadBadBadBadBadBadBadBad12345",
        )
    assert p.returncode != 0
    lines = [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "FAIL vertex: vertex: credentials rejected" in lines[0]
    assert "AIza" not in p.stdout + p.stderr and "Traceback" not in p.stderr


def test_doctor_all_good(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1), port=0) as emu:
        p = veokit(
            tmp_path,
            "doctor",
            VEOKIT_VERTEX_BASE_URL=emu.base_url,
            VEOKIT_VERTEX_PROJECT="p",
            VEOKIT_VERTEX_ACCESS_TOKEN="test-token",
        )
    assert p.returncode == 0, p.stderr
    assert "ok  vertex: credentials accepted; veo-3.1-fast-generate-001 available" in p.stdout


def test_doctor_reports_a_retired_model_and_missing_credentials(tmp_path: Path) -> None:
    p = veokit(tmp_path, "doctor", "--provider", "gemini", GEMINI_API_KEY="k")
    assert p.returncode == 1 and "retired on 2026-10-22" in p.stderr
    p = veokit(tmp_path, "doctor")
    assert p.returncode == 2 and "no provider configured" in p.stderr
    p = veokit(tmp_path, "generate", "a kite", "--dry-run")
    assert p.returncode == 2 and "no provider configured" in p.stderr and "--provider emulator" in p.stderr
    assert p.stderr.count("GEMINI_API_KEY") == 1, p.stderr  # providers sharing credentials are named once


def test_emulator_cli_fault_flags_and_quota(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEOKIT_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veokit.cli.main",
            "emulator",
            "--port",
            str(port),
            "--quota",
            "1/min",
            "--fault",
            "submit:http:503",
            "--seed",
            "3",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/_emulator/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        url = f"{base}/v1/projects/p/locations/l/publishers/google/models/veo-3.1-generate-001:predictLongRunning"
        h = {"Authorization": "Bearer test-token"}
        body = {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 4}}
        codes = [httpx.post(url, json=body, headers=h).status_code for _ in range(3)]
        assert codes == [503, 200, 429]
        faults = httpx.get(f"{base}/_emulator/faults").json()
        assert faults == [] or json.dumps(faults).count("503") == 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


def test_emulator_rejects_a_bad_fault_flag(tmp_path: Path) -> None:
    p = veokit(tmp_path, "emulator", "--fault", "submit")
    assert p.returncode == 2 and "ROUTE:KIND" in p.stderr
    p = veokit(tmp_path, "emulator", "--fault", "upload:http:500")
    assert p.returncode == 2 and "route must be one of" in p.stderr


def test_doctor_checks_the_in_process_emulator_like_any_provider(tmp_path: Path) -> None:
    p = veokit(tmp_path, "doctor", "--provider", "emulator")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ok  emulator: credentials accepted; veo-3.1-fast-generate-001 available" in p.stdout
