"""Contract: running the emulator (thread, asyncio, blocking ``serve`` for the CLI) and its HTTP hygiene."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from veokit.emulator import EmulatorConfig, EmulatorServer


def test_port_zero_binds_a_free_port_and_stop_releases_it(tmp_path: Path) -> None:
    emu = EmulatorServer(EmulatorConfig(storage_dir=tmp_path), port=0).start()
    try:
        assert emu.port != 0
        assert emu.base_url == f"http://127.0.0.1:{emu.port}"
        assert httpx.get(emu.base_url + "/_emulator/health").json() == {"ok": True}
    finally:
        emu.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.base_url + "/_emulator/health")
    with pytest.raises(RuntimeError, match="runs once"):
        emu.start()


def test_temporary_storage_is_removed_on_stop() -> None:
    with EmulatorServer(EmulatorConfig()) as emu:
        storage = emu.state.storage_dir
        assert storage.is_dir()
    assert not storage.exists()


def test_unknown_paths_and_methods_answer_in_google_rpc_shape(emu_http: httpx.Client) -> None:
    r = emu_http.get("/v1/nothing/here")
    assert (r.status_code, r.json()["error"]["status"]) == (404, "NOT_FOUND")
    r = emu_http.get("/v1beta/models/veo-3.1-generate-preview:predictLongRunning")
    assert (r.status_code, r.json()["error"]["code"]) == (405, 405)


def test_access_log_never_contains_credentials(emu_http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="veokit.emulator")
    emu_http.post(
        "/v1beta/models/veo-3.1-generate-preview:predictLongRunning",
        params={"key": "sk-query-secret"},
        json={"instances": [{"prompt": "x"}]},
    )
    emu_http.post(
        "/v1/projects/p/locations/l/publishers/google/models/veo-3.1-generate-001:predictLongRunning",
        headers={"Authorization": "Bearer sk-header-secret"},
        json={"instances": [{"prompt": "x"}]},
    )
    deadline = time.monotonic() + 5
    while True:  # a request is logged once fully answered, which may be just after the client has read it
        lines = [r.getMessage() for r in caplog.records if r.name == "veokit.emulator"]
        if sum(":predictLongRunning -> " in line for line in lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert any(":predictLongRunning -> 400" in line for line in lines)
    assert any(":predictLongRunning -> 401" in line for line in lines)
    assert not any("secret" in line for line in lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_serve_blocks_until_ctrl_c_and_exits_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    script = (
        "import datetime as dt, sys\n"
        "from veokit.emulator import EmulatorConfig\n"
        "from veokit.emulator.server import serve\n"
        "cfg = EmulatorConfig(api_keys=['cli-key'], storage_dir=sys.argv[1], as_of=dt.date(2026, 11, 21))\n"
        f"serve(cfg, '127.0.0.1', {port})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(base + "/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve() did not come up"
                time.sleep(0.1)
        r = httpx.post(
            base + "/v1beta/models/veo-3.1-generate-preview:predictLongRunning",
            params={"key": "cli-key"},
            json={"instances": [{"prompt": "x"}]},
        )
        assert r.status_code == 404  # the key was accepted; the Gemini preview is retired by then
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    text = out.decode()
    assert "predictLongRunning -> 404" in text  # the access log is on for the CLI...
    assert "cli-key" not in text  # ...and never shows the key
