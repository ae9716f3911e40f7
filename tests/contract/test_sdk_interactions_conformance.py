"""Conformance: google-genai 3.4.0's interactions client, unmodified, against the emulator's Gemini Omni routes.

The SDK is the primary source for the wire protocol (paths, the body ``interactions.create`` serialises, how
``interactions.get`` polls, where ``output_video`` and ``usage`` live); these tests hold the emulator to it on
both hosts: the Gemini API (an API key; default API version v1, and v1beta) and Vertex (project mode with
OAuth credentials, and express mode with a key).
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from pathlib import Path
from typing import Any

import google.oauth2.credentials
import httpx
import numpy as np
import pytest
from google import genai
from google.genai import types
from PIL import Image

from veokit.emulator import EmulatorServer
from veokit.media.probe import first_frame_rgb, probe_mp4

MODEL = "gemini-omni-1.2-flash"
SMALL = {"type": "video", "resolution": "360p", "duration": "3s"}


def gemini_client(emu: EmulatorServer, **options: Any) -> genai.Client:
    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=emu.base_url + "/", **options))


def vertex_client(emu: EmulatorServer) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="test-token"),
        http_options=types.HttpOptions(base_url=emu.base_url + "/"),
    )


def wait(client: genai.Client, interaction: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while interaction.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline, f"{interaction.id} still {interaction.status}"
        time.sleep(0.05)
        interaction = client.interactions.get(interaction.id)
    return interaction


def save(interaction: Any, path: Path) -> Path:
    data = interaction.output_video.data
    path.write_bytes(base64.b64decode(data) if isinstance(data, str) else data)
    return path


def png(color: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize("api_version", [None, "v1beta"])
def test_gemini_api_background_interaction_inline(
    emulator: EmulatorServer, tmp_path: Path, api_version: str | None
) -> None:
    client = gemini_client(emulator, **({"api_version": api_version} if api_version else {}))
    created = client.interactions.create(
        model=MODEL,
        input="a paper boat on a canal",
        background=True,
        response_format={**SMALL, "aspect_ratio": "9:16", "delivery": "inline"},
        generation_config={"seed": 11},
    )
    assert created.status == "in_progress" and created.id
    done = wait(client, created)
    assert done.status == "completed" and done.output_video.mime_type == "video/mp4"
    info = probe_mp4(save(done, tmp_path / "v.mp4"))
    assert (info.width, info.height, info.audio_codec) == (360, 640, "aac")
    assert done.usage.output_tokens_by_modality[0].modality == "video"
    assert done.usage.output_tokens_by_modality[0].tokens == 3 * 1931 and done.usage.total_input_tokens == 6
    assert emulator.stats()["submits_total"] == 1


def test_uri_delivery_is_a_files_api_uri(emulator: EmulatorServer) -> None:
    client = gemini_client(emulator)
    done = wait(
        client,
        client.interactions.create(
            model=MODEL, input="x", background=True, response_format={**SMALL, "delivery": "uri"}
        ),
    )
    uri = done.output_video.uri
    assert "/files/" in uri and done.output_video.data is None
    video = httpx.get(uri, headers={"x-goog-api-key": "test-key"}, follow_redirects=True)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"


def test_frames_and_extension_through_the_sdk(emulator: EmulatorServer, tmp_path: Path) -> None:
    client = gemini_client(emulator)
    framed = client.interactions.create(
        model=MODEL,
        input=[
            {"type": "text", "text": "the red card turns blue"},
            {"type": "image", "data": png((200, 30, 40)), "mime_type": "image/png"},
            {"type": "image", "data": png((30, 40, 200)), "mime_type": "image/png"},
        ],
        background=True,
        response_format=SMALL,
        generation_config={"video_config": {"task": "image_to_video"}},
    )
    first = wait(client, framed)
    frame = first_frame_rgb(save(first, tmp_path / "f.mp4")).astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12
    more = client.interactions.create(
        model=MODEL,
        input="and keeps turning",
        background=True,
        previous_interaction_id=first.id,
        response_format=SMALL,
        generation_config={"video_config": {"task": "extend"}},
    )
    extended = wait(client, more)
    assert extended.previous_interaction_id == first.id
    assert probe_mp4(save(extended, tmp_path / "e.mp4")).duration_s == pytest.approx(6, abs=0.1)


def test_vertex_project_and_express_modes(emulator: EmulatorServer) -> None:
    vertex = vertex_client(emulator)
    inline = wait(vertex, vertex.interactions.create(model=MODEL, input="x", background=True, response_format=SMALL))
    assert inline.status == "completed" and inline.output_video.data
    to_gcs = vertex.interactions.create(
        model=MODEL, input="x", background=True, response_format={**SMALL, "delivery": "uri", "gcs_uri": "gs://b/o"}
    )
    assert wait(vertex, to_gcs).output_video.uri == f"gs://b/o/{to_gcs.id}/sample_0.mp4"
    express = genai.Client(
        vertexai=True, api_key="test-key", http_options=types.HttpOptions(base_url=emulator.base_url + "/")
    )
    quick = express.interactions.create(model=MODEL, input="x", background=True, response_format=SMALL)
    assert wait(express, quick).status == "completed"


def test_async_client_cancel_and_failures(emulator: EmulatorServer) -> None:
    client = gemini_client(emulator)

    async def run() -> tuple[Any, Any]:
        created = await client.aio.interactions.create(model=MODEL, input="x", background=True, response_format=SMALL)
        return created, await client.aio.interactions.get(created.id)

    emulator.state.set_latency(3600)
    created, polled = asyncio.run(run())
    assert polled.id == created.id and polled.status == "in_progress"
    assert client.interactions.cancel(created.id).status == "cancelled"
    emulator.state.set_latency(0.3)
    blocked = wait(client, client.interactions.create(model=MODEL, input="x [emulate:filtered]", background=True))
    assert blocked.status == "failed" and blocked.errors[0].code == "safety"
    with pytest.raises(Exception) as missing:
        client.interactions.get("v1_nope")
    assert getattr(missing.value, "status_code", None) == 404
    with pytest.raises(Exception) as invalid:
        too_long = {"type": "video", "duration": "99s"}
        client.interactions.create(model=MODEL, input="x", background=True, response_format=too_long)
    assert getattr(invalid.value, "status_code", None) == 400 and "99s" in str(invalid.value)


def test_the_sdk_retries_a_503_and_pays_once(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    emu_http.post("/_emulator/faults", json=[{"route": "submit", "fault": {"kind": "http", "status": 503}}])
    client = gemini_client(emulator)
    done = wait(client, client.interactions.create(model=MODEL, input="x", background=True, response_format=SMALL))
    assert done.status == "completed"
    assert emulator.stats()["submits_total"] == 1 and emulator.stats()["faults_fired"] == 1
