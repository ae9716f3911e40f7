"""`veokit serve` as a user runs it (a subprocess): keys made with `veokit keys`, a server killed mid-job and
started again: the job finishes without a second submit and its webhook is delivered once."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import httpx
import openai

from veokit.emulator import EmulatorServer
from veokit.media.probe import Expectation, verify_mp4

from .conftest import DEADLINE_NOT_UNDER_TEST_S, expire_leases, stats, until
from .service_fixtures import VEOKIT, serve_process
from .test_server_streams import Receiver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(emu: EmulatorServer, tmp_path: Path) -> dict[str, str]:
    return {
        "VEOKIT_PROVIDER": "vertex",
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "proj-1",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
        "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
        "VEOKIT_DATA_DIR": str(tmp_path / "data"),
        "VEOKIT_OUT_DIR": str(tmp_path / "videos"),
        "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
        "VEOKIT_POLL_SCALE": "0.01",
        "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_NOT_UNDER_TEST_S),  # a restart on a loaded machine takes a while
        "VEOKIT_RATE_LIMIT": "off",
        "VEOKIT_ALLOW_RETIRED": "1",
        # A killed server's jobs are claimed again once their lease expires; long enough that a loaded machine
        # keeps a live server's lease (renewed every third of it) from lapsing mid-submit, which sets a job aside.
        "VEOKIT_WORKER_LEASE_S": "10",
        "VEOKIT_SERVER_WEBHOOK_BACKOFF_S": "0.1",
    }


def cli(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_", "VEOKIT_"))}
    return subprocess.run(
        [*VEOKIT, *args], env={**full, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_keys_cli_and_a_server_killed_mid_job_finishes_it_once_with_one_webhook(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    env = environment(emu, tmp_path)
    receiver = Receiver()
    servers: list[subprocess.Popen[str]] = []
    try:
        made = cli(env, tmp_path, "keys", "create", "ci", "--webhook", receiver.url, "--max-in-flight", "5")
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip().splitlines()[-1]
        secret = made.stdout.strip().splitlines()[0]
        assert key.startswith("vk_") and secret.startswith("whsec_") and "not shown again" in made.stderr
        listed = cli(env, tmp_path, "keys", "list", "--json")
        [row] = json.loads(listed.stdout)
        assert row["name"] == "ci" and key not in listed.stdout and "key_hash" not in row
        assert cli(env, tmp_path, "keys", "webhook-secret", "ci").stdout.strip() == secret
        assert cli(env, tmp_path, "keys", "create", "ci").returncode == 2  # the name is taken: one line, exit 2

        emu.state.set_latency(3600.0, None)  # running until the test moves the emulator's clock
        port = free_port()
        servers.append(serve_process(env, port, tmp_path))
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        video = client.videos.create(prompt="a lighthouse in a storm", seconds="4")
        until(lambda: stats(emu)["polls"] >= 1)  # submitted: the operation is recorded
        servers[0].send_signal(signal.SIGKILL)
        servers[0].wait(30)
        # The dead server's lease runs out now, not 10 s of wall clock later: the one job, leased by it.
        assert expire_leases(tmp_path / "jobs.db") == 1

        httpx.post(f"{emu.base_url}/_emulator/clock", json={"advance_s": 7200})  # the operation is done now
        servers.append(serve_process(env, port, tmp_path))
        done = client.videos.poll(video.id, poll_interval_ms=100)
        assert done.status == "completed"
        client.videos.download_content(video.id).write_to_file(tmp_path / "out.mp4")
        verify_mp4(tmp_path / "out.mp4", Expectation(width=1280, height=720, duration_s=4.0))
        assert stats(emu)["submits_total"] == 1

        def delivered() -> bool:
            with sqlite3.connect(tmp_path / "jobs.db") as db:
                row = db.execute("select webhook_status from api_videos where job_id = ?", (video.id,)).fetchone()
            return row is not None and row[0] == "delivered"

        until(delivered)
        [(headers, body)] = receiver.deliveries
        openai.OpenAI(api_key="unused", webhook_secret=secret).webhooks.verify_signature(body, headers)
        assert json.loads(body)["data"]["id"] == video.id

        revoked = cli(env, tmp_path, "keys", "revoke", "ci")
        assert revoked.returncode == 0 and "revoked" in revoked.stdout
        assert (
            httpx.get(f"http://127.0.0.1:{port}/v1/videos", headers={"Authorization": f"Bearer {key}"}).status_code
            == 401
        )
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        receiver.close()
