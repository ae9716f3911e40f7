"""Contract: running the emulator (thread, asyncio, blocking ``serve`` for the CLI) and its HTTP hygiene."""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from veokit.cli.main import app
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
        deadline = time.monotonic() + 180  # a hang detector: a loaded 2-core machine starts Python slowly
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


# -- a fault is expected behaviour: one log line, never a traceback --------------------------------------------
def test_truncate_fault_logs_one_line_not_a_traceback(emu_http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    name = emu_http.post(
        "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
        headers={"x-goog-api-key": "test-key"},
        json={"instances": [{"prompt": "a cut download"}], "parameters": {"durationSeconds": 4}},
    ).json()["name"]
    deadline = time.monotonic() + 60
    while not (op := emu_http.get(f"/v1beta/{name}", headers={"x-goog-api-key": "test-key"}).json()).get("done"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    uri = op["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    emu_http.post("/_emulator/faults", json=[{"route": "download", "fault": {"kind": "truncate", "after_bytes": 1000}}])
    with pytest.raises(httpx.RemoteProtocolError, match="received 1000 bytes"):
        emu_http.get(uri, headers={"x-goog-api-key": "test-key"}, follow_redirects=True)
    r = emu_http.get(uri, headers={"x-goog-api-key": "test-key"}, follow_redirects=True)  # the rule fired once
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"
    deadline = time.monotonic() + 5
    while not any("/_emulator/content/***" in rec.getMessage() for rec in caplog.records):  # logged once answered
        assert time.monotonic() < deadline
        time.sleep(0.01)
    fault_lines = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("fault: ")]
    assert fault_lines == ["fault: truncate on download (veo-3.1-fast-generate-preview): after_bytes=1000"]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING], [
        rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING
    ]
    assert not any(rec.exc_info for rec in caplog.records)


# -- starting: a busy port fails at once, before anything claims the emulator is running --------------------------
def test_serve_on_a_busy_port_raises_before_announcing(tmp_path: Path) -> None:
    from veokit.emulator.server import ListenError, serve

    announced: list[str] = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot listen on 127.0.0.1:{port}: the port is already in use"):
            serve(
                EmulatorConfig(storage_dir=tmp_path), "127.0.0.1", port, announce=lambda url, ca: announced.append(url)
            )
    assert announced == []


def test_cli_on_a_busy_port_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEOKIT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["emulator", "--port", str(port)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: the port is already in use; pick another with --port"
    ]
    assert "veokit emulator on" not in result.output


def test_fault_flag_fires_once_without_a_probability_and_always_with_at_1() -> None:
    from veokit.emulator.fault_flags import parse_fault_flag
    from veokit.emulator.faults import FaultBook, parse_rule

    book = FaultBook(seed=0)
    book.add([parse_rule(parse_fault_flag("submit:http:503"))])
    assert book.take("submit", "m") is not None
    assert book.take("submit", "m") is None  # once, then gone
    book.add([parse_rule(parse_fault_flag("submit:http:503@1"))])
    assert all(book.take("submit", "m") is not None for _ in range(50))  # @1: every matching request
    assert book.describe()[0]["times"] == -1
    help_text = CliRunner().invoke(app, ["emulator", "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"}).stdout
    assert "fires ONCE" in " ".join(help_text.replace("│", " ").split())


# -- the optional TLS listener ------------------------------------------------------------------------------------
def test_tls_listener_serves_https_with_a_reusable_self_signed_certificate(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(storage_dir=tmp_path), tls=True) as emu:
        assert emu.base_url.startswith("https://127.0.0.1:") and emu.ca_file is not None
        ctx = ssl.create_default_context(cafile=str(emu.ca_file))
        with httpx.Client(verify=ctx) as https:
            assert https.get(emu.base_url + "/_emulator/health").json() == {"ok": True}
            localhost = emu.base_url.replace("127.0.0.1", "localhost")
            assert https.get(localhost + "/_emulator/health").status_code == 200  # both loopback names
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(emu.base_url + "/_emulator/health")
        first = emu.ca_file.read_bytes()
    with EmulatorServer(EmulatorConfig(storage_dir=tmp_path), tls=True) as again:
        assert again.ca_file is not None and again.ca_file.read_bytes() == first  # clients' SSL_CERT_FILE stays valid


def test_cli_tls_prints_the_certificate_to_trust(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veokit.cli.main",
            "emulator",
            "--port",
            str(port),
            "--tls",
            "--storage-dir",
            str(tmp_path / "emu"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VEOKIT_CONFIG": str(tmp_path / "none.toml"), "COLUMNS": "300", "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        second = proc.stderr.readline()
        assert first.startswith(f"veokit emulator on https://127.0.0.1:{port} ")
        cert = tmp_path / "emu" / "tls" / "emulator-cert.pem"
        assert second.strip() == f"TLS certificate (trust it with SSL_CERT_FILE): {cert}"
        ctx = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"https://127.0.0.1:{port}/_emulator/health", verify=ctx).status_code == 200
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_a_stale_fault_fires_only_on_a_request_that_reuses_a_connection() -> None:
    from veokit.emulator.fault_flags import parse_fault_flag
    from veokit.emulator.faults import FaultBook, parse_rule

    book = FaultBook(seed=0)
    book.add([parse_rule(parse_fault_flag("*:stale"))])
    assert book.take("submit", "m", frozenset({"pre"})) is None  # a connection opened for this request
    assert book.take("submit", "m", frozenset({"after"})) is None
    fault = book.take("poll", "m", frozenset({"pre", "reused"}))
    assert fault is not None and fault.kind == "stale" and book.describe() == []
