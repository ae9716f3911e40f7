"""Conformance: LiteLLM's video API (``video_generation`` → ``video_status`` → ``video_content``), unmodified,
against the emulator, for ``gemini/`` and ``vertex_ai/`` Veo models.

Configuration only: ``api_base`` (the emulator), the Gemini API key, and for Vertex a project, a location and a
service-account key whose ``token_uri`` is the emulator's OAuth endpoint (google-auth signs a JWT and exchanges
it there, as it would with Google). The MP4 LiteLLM returns must be byte for byte the one the emulator rendered.
LiteLLM's Gemini passthrough (``/gemini/v1beta/...`` on its proxy) forwards Google's own wire format, which the
Gemini contract tests cover; the proxy server itself is not installed here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from veokit.emulator import EmulatorServer
from veokit.media.probe import probe_mp4

pytestmark = pytest.mark.filterwarnings("ignore:Item .* is using the .ReadOnly. qualifier:UserWarning")

GEMINI_MODEL = "gemini/veo-3.1-fast-generate-preview"  # live until 2026-10-22; the emulator's as_of is before
VERTEX_MODEL = "vertex_ai/veo-3.1-fast-generate-001"


@pytest.fixture(autouse=True)
def quiet_litellm() -> Iterator[None]:
    before = litellm.suppress_debug_info
    litellm.suppress_debug_info = True  # no "Give Feedback" banner on the expected errors below
    yield
    litellm.suppress_debug_info = before


@pytest.fixture(scope="module")
def service_account_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def gemini_kw(emu: EmulatorServer) -> dict[str, Any]:
    return {"api_base": emu.base_url, "api_key": "test-key"}


def vertex_kw(emu: EmulatorServer, pem: str) -> dict[str, Any]:
    info = {
        "type": "service_account",
        "project_id": "litellm-proj",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "litellm@litellm-proj.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": emu.base_url + "/token",
    }
    return {
        "api_base": emu.base_url,
        "vertex_project": "litellm-proj",
        "vertex_location": "us-central1",
        "vertex_credentials": json.dumps(info),
    }


def wait_status(video_id: str, kw: dict[str, Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        status = litellm.video_status(video_id=video_id, **kw)
        if status.status != "processing":
            return status
        assert time.monotonic() < deadline, f"{video_id} still processing after {timeout_s} s"
        time.sleep(0.05)


def only_rendered_file(emu: EmulatorServer) -> bytes:
    [op] = list(emu.state.operations.values())
    [render] = op.renders
    return render.result().path.read_bytes()


def assert_video(data: bytes, path: Path, size: tuple[int, int] = (1280, 720)) -> None:
    path.write_bytes(data)
    info = probe_mp4(path)
    assert (info.width, info.height, round(info.duration_s)) == (*size, 4)


def test_gemini_create_poll_fetch(emulator: EmulatorServer, tmp_path: Path) -> None:
    kw = gemini_kw(emulator)
    emulator.state.set_latency(3600.0)
    video = litellm.video_generation(model=GEMINI_MODEL, prompt="paper boats on a pond", seconds="4", **kw)
    assert video.status == "processing" and video.usage["duration_seconds"] == 4.0
    assert litellm.video_status(video_id=video.id, **kw).status == "processing"
    emulator.state.clock.advance(3600)
    assert wait_status(video.id, kw).status == "completed"
    data = litellm.video_content(video_id=video.id, **kw)  # follows the 302 to the signed content URL
    assert data == only_rendered_file(emulator)
    assert_video(data, tmp_path / "gemini.mp4")
    stats = emulator.stats()
    assert (stats["submits_total"], stats["downloads"]) == (1, 1)


def test_vertex_create_poll_fetch_with_service_account(
    emulator: EmulatorServer, service_account_key: str, tmp_path: Path
) -> None:
    kw = vertex_kw(emulator, service_account_key)
    video = litellm.video_generation(
        model=VERTEX_MODEL, prompt="paper boats on a pond", seconds="4", size="720x1280", **kw
    )
    assert video.status == "processing"
    done = wait_status(video.id, kw)
    assert done.status == "completed" and done.error is None
    data = litellm.video_content(video_id=video.id, **kw)  # the inline base64 video, decoded
    assert data == only_rendered_file(emulator)
    assert_video(data, tmp_path / "vertex.mp4", size=(720, 1280))
    submits = emulator.stats()["submits"]
    assert submits == {"sa:litellm@litellm-proj.iam.gserviceaccount.com": {"veo-3.1-fast-generate-001": 1}}


def test_vertex_failed_operation_reaches_litellm_as_an_rpc_status(
    emulator: EmulatorServer, service_account_key: str
) -> None:
    kw = vertex_kw(emulator, service_account_key)
    video = litellm.video_generation(model=VERTEX_MODEL, prompt="[emulate:failed] a storm", seconds="4", **kw)
    failed = wait_status(video.id, kw)
    assert failed.status == "failed"
    assert failed.error["code"] == 13 and "status" not in failed.error
