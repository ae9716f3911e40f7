"""Conformance: the official ``fal-client``, unmodified, against the emulator.

fal-client builds every queue URL as ``https://{FAL_QUEUE_RUN_HOST}/...`` from environment variables it reads at
import time, so it is pointed at the emulator by configuration only: ``FAL_KEY``, ``FAL_RUN_HOST`` and
``FAL_QUEUE_RUN_HOST`` set to the emulator's TLS listener, and ``SSL_CERT_FILE`` to trust its certificate. Because
those are read at import, each scenario runs in a fresh interpreter; it prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from veokit.emulator import EmulatorServer
from veokit.media.probe import probe_mp4

ARGS = {"prompt": "a red fox trotting through snow", "duration": "4s", "seed": 7}


@pytest.fixture
def emulator(tls_emulator: EmulatorServer) -> EmulatorServer:
    return tls_emulator


def run_client(emulator: EmulatorServer, tmp_path: Path, body: str) -> dict[str, Any]:
    """Run ``body`` (with ``fal_client``, ``httpx``, ``json`` and ``ARGS`` imported) in a configured process."""
    host = urlsplit(emulator.base_url).netloc
    env = {
        **os.environ,
        "FAL_KEY": "test-fal-key",
        "FAL_RUN_HOST": host,
        "FAL_QUEUE_RUN_HOST": host,
        "SSL_CERT_FILE": str(emulator.ca_file),
        "EMULATOR": emulator.base_url,  # only the scenario's own admin calls (clock) use it, never the client
        "OUT": str(tmp_path),
    }
    script = f"import json, os, fal_client, httpx\nARGS = {ARGS!r}\n" + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def rendered(emulator: EmulatorServer, request_id: str) -> bytes:
    task = emulator.state.tasks.get(request_id, "fal")
    assert task is not None
    return task.renders["main"].result().path.read_bytes()


def test_submit_status_result_and_download(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.state.set_latency(3600.0)  # queued until the scenario moves the clock: the client must poll
    out = run_client(
        emulator,
        tmp_path,
        """
        handle = fal_client.submit("fal-ai/veo3.1/fast", arguments=ARGS)
        first = type(handle.status()).__name__
        httpx.post(os.environ["EMULATOR"] + "/_emulator/clock", json={"advance_s": 3600})
        seen = [type(s).__name__ for s in handle.iter_events(with_logs=True, interval=0.02)]
        result = handle.get(interval=0.02)
        video = httpx.get(result["video"]["url"]).content  # trusts the emulator through SSL_CERT_FILE
        path = os.path.join(os.environ["OUT"], "fal.mp4")
        open(path, "wb").write(video)
        print(json.dumps({"id": handle.request_id, "first": first, "seen": seen, "result": result, "path": path}))
        """,
    )
    assert out["first"] == "Queued"
    assert out["seen"][-1] == "Completed"
    assert out["result"]["video"]["url"].startswith("https://")
    data = Path(out["path"]).read_bytes()
    assert data == rendered(emulator, out["id"])  # unchanged, byte for byte
    assert out["result"]["video"]["file_size"] == len(data)
    info = probe_mp4(Path(out["path"]))
    assert (info.width, info.height, round(info.duration_s)) == (1280, 720, 4)
    assert emulator.stats()["submits_total"] == 1


def test_subscribe_and_content_policy_error(emulator: EmulatorServer, tmp_path: Path) -> None:
    out = run_client(
        emulator,
        tmp_path,
        """
        updates = []
        result = fal_client.subscribe(
            "fal-ai/veo3.1/fast", arguments=ARGS, interval=0.02, with_logs=True,
            on_queue_update=lambda s: updates.append(type(s).__name__),
        )
        try:
            fal_client.subscribe("fal-ai/veo3.1/fast", arguments={**ARGS, "prompt": "x [emulate:filtered]"},
                                 interval=0.02)
            blocked = None
        except fal_client.client.FalClientHTTPError as exc:
            blocked = {"status": exc.status_code, "message": str(exc.message)}
        print(json.dumps({"result": result, "updates": updates, "blocked": blocked}))
        """,
    )
    assert out["updates"][-1] == "Completed"
    assert out["result"]["video"]["content_type"] == "video/mp4"
    assert out["blocked"]["status"] == 422
    assert "content checker" in out["blocked"]["message"]
    stats = emulator.stats()
    assert stats["submits_total"] == 2


def test_cancel_through_the_client(emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.state.set_latency(3600.0)
    out = run_client(
        emulator,
        tmp_path,
        """
        handle = fal_client.submit("fal-ai/veo3.1/fast", arguments=ARGS)
        handle.cancel()
        status = handle.status()
        print(json.dumps({"error_type": status.error_type, "kind": type(status).__name__}))
        """,
    )
    assert out == {"error_type": "request_cancelled", "kind": "Completed"}
