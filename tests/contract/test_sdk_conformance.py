"""Conformance: the official google-genai SDK (3.4.0), unmodified, against the emulator.

google-genai 3.x generates videos only in Vertex ("Agent Platform") mode, so that is what is exercised:
project mode with OAuth credentials and express mode with an API key. Its Gemini Developer API client still polls
operations and downloads generated files, so those are exercised against Gemini operations created over raw HTTP
(2.x, which could also create them, cannot share this environment: see ``scripts/check_genai2.py``).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import google.oauth2.credentials
import httpx
import numpy as np
import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import first_frame_rgb, probe_mp4

MODEL = "veo-3.1-generate-001"
Op = TypeVar("Op", bound=types.Operation)


def vertex_client(emu: EmulatorServer, *, quota_project: str | None = None) -> genai.Client:
    creds = google.oauth2.credentials.Credentials(token="test-token", quota_project_id=quota_project)
    return genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=creds,
        http_options=types.HttpOptions(base_url=emu.base_url + "/"),
    )


def express_client(emu: EmulatorServer) -> genai.Client:
    return genai.Client(vertexai=True, api_key="test-key", http_options=types.HttpOptions(base_url=emu.base_url + "/"))


def standard_config(**overrides: Any) -> types.GenerateVideosConfig:
    fields: dict[str, Any] = {
        "aspect_ratio": "16:9",
        "duration_seconds": 8,
        "resolution": "720p",
        "number_of_videos": 1,
        **overrides,
    }
    return types.GenerateVideosConfig(**fields)


def wait(client: genai.Client, op: Op, timeout_s: float = 60) -> Op:
    deadline = time.monotonic() + timeout_s
    while not op.done:
        assert time.monotonic() < deadline, f"{op.name} not done after {timeout_s} s"
        time.sleep(0.05)
        op = client.operations.get(op)
    return op


def video_file(op: types.GenerateVideosOperation, path: Path, index: int = 0) -> Path:
    assert op.response is not None and op.response.generated_videos
    video = op.response.generated_videos[index].video
    assert video is not None and video.video_bytes
    path.write_bytes(video.video_bytes)
    return path


def assert_standard_video(path: Path, duration: float = 8) -> None:
    info = probe_mp4(path)
    assert (info.width, info.height) == (1280, 720)
    assert info.duration_s == pytest.approx(duration, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


def test_vertex_project_mode_text_to_video(emulator: EmulatorServer, tmp_path: Path) -> None:
    client = vertex_client(emulator, quota_project="billing-proj")
    op = client.models.generate_videos(
        model=MODEL, source=types.GenerateVideosSource(prompt="a lighthouse at dusk"), config=standard_config()
    )
    assert op.name is not None
    assert op.name.startswith(f"projects/p/locations/us-central1/publishers/google/models/{MODEL}/operations/")
    op = wait(client, op)
    assert op.error is None
    assert_standard_video(video_file(op, tmp_path / "sdk.mp4"))
    stats = emulator.stats()
    assert list(stats["submits"].values()) == [{MODEL: 1}]
    assert next(iter(stats["submits"])).startswith("token:")
    assert stats["user_projects"] == {"billing-proj": 1}  # the SDK forwards the credentials' quota project


def test_vertex_express_mode_with_api_key(emulator: EmulatorServer, tmp_path: Path) -> None:
    client = express_client(emulator)
    op = client.models.generate_videos(
        model=MODEL, source=types.GenerateVideosSource(prompt="a lighthouse at dusk"), config=standard_config()
    )
    assert op.name is not None and op.name.startswith(f"publishers/google/models/{MODEL}/operations/")
    assert_standard_video(video_file(wait(client, op), tmp_path / "express.mp4"))
    submits = emulator.stats()["submits"]
    assert list(submits.values()) == [{MODEL: 1}] and next(iter(submits)).startswith("key:")


def test_image_to_video_first_frame_is_the_image(emulator: EmulatorServer, tmp_path: Path) -> None:
    arr = np.zeros((720, 1280, 3), dtype=np.uint8)
    arr[:360] = (200, 40, 160)
    arr[360:] = (40, 200, 120)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    client = vertex_client(emulator)
    source = types.GenerateVideosSource(
        prompt="petals fall", image=types.Image(image_bytes=buf.getvalue(), mime_type="image/png")
    )
    op = wait(client, client.models.generate_videos(model=MODEL, source=source, config=standard_config()))
    path = video_file(op, tmp_path / "i2v.mp4")
    assert_standard_video(path)
    assert np.abs(first_frame_rgb(path).astype(np.float32) - arr).mean() < 6


def test_output_gcs_uri_is_returned_and_downloadable(emulator: EmulatorServer, tmp_path: Path) -> None:
    client = vertex_client(emulator)
    op = wait(
        client,
        client.models.generate_videos(
            model=MODEL,
            source=types.GenerateVideosSource(prompt="a lighthouse at dusk"),
            config=standard_config(output_gcs_uri="gs://sdk-bucket/veo"),
        ),
    )
    assert op.response is not None and op.response.generated_videos
    video = op.response.generated_videos[0].video
    assert video is not None and video.video_bytes is None
    assert video.uri is not None
    assert video.uri.startswith("gs://sdk-bucket/veo/") and video.uri.endswith("/sample_0.mp4")
    obj = quote(video.uri.removeprefix("gs://sdk-bucket/"), safe="")
    r = httpx.get(
        f"{emulator.base_url}/storage/v1/b/sdk-bucket/o/{obj}",
        params={"alt": "media"},
        headers={"Authorization": "Bearer test-token"},
    )
    assert r.status_code == 200
    (tmp_path / "gcs.mp4").write_bytes(r.content)
    assert_standard_video(tmp_path / "gcs.mp4")


def test_extension_with_video_bytes(emulator: EmulatorServer, tmp_path: Path) -> None:
    client = vertex_client(emulator)
    first = wait(
        client,
        client.models.generate_videos(
            model=MODEL, source=types.GenerateVideosSource(prompt="a lighthouse at dusk"), config=standard_config()
        ),
    )
    assert first.response is not None and first.response.generated_videos
    previous = first.response.generated_videos[0].video
    source = types.GenerateVideosSource(prompt="the lighthouse at night", video=previous)
    ext = wait(client, client.models.generate_videos(model=MODEL, source=source, config=standard_config()))
    assert_standard_video(video_file(ext, tmp_path / "ext.mp4"), duration=15)


def test_filtered_and_failed_operations_parse(emulator: EmulatorServer) -> None:
    client = vertex_client(emulator)
    filtered = wait(
        client,
        client.models.generate_videos(
            model=MODEL, source=types.GenerateVideosSource(prompt="[emulate:filtered] x"), config=standard_config()
        ),
    )
    assert filtered.response is not None
    assert filtered.response.rai_media_filtered_count == 1
    assert filtered.response.rai_media_filtered_reasons and not filtered.response.generated_videos
    failed = wait(
        client,
        client.models.generate_videos(
            model=MODEL, source=types.GenerateVideosSource(prompt="[emulate:failed] x"), config=standard_config()
        ),
    )
    assert failed.response is None
    assert failed.error is not None and failed.error["code"] == 13  # the SDK does not raise on operation errors
    assert "status" not in failed.error  # a google.rpc.Status: code, message, details


def test_partial_filter_parses_as_videos_plus_a_filtered_count(emulator: EmulatorServer, tmp_path: Path) -> None:
    client = vertex_client(emulator)
    op = wait(
        client,
        client.models.generate_videos(
            model=MODEL,
            source=types.GenerateVideosSource(prompt="[emulate:filtered:1] a crowd"),
            config=standard_config(number_of_videos=2, duration_seconds=4),
        ),
    )
    assert op.response is not None and op.error is None
    assert op.response.rai_media_filtered_count == 1 and op.response.rai_media_filtered_reasons
    assert op.response.generated_videos is not None and len(op.response.generated_videos) == 1
    assert_standard_video(video_file(op, tmp_path / "partial.mp4"), duration=4)


def test_sdk_raises_api_errors_from_emulator_bodies(emulator: EmulatorServer) -> None:
    client = vertex_client(emulator)
    source = types.GenerateVideosSource(prompt="a cat")
    with pytest.raises(errors.ClientError) as bad:
        client.models.generate_videos(model=MODEL, source=source, config=standard_config(aspect_ratio="1:1"))
    assert (bad.value.code, bad.value.status) == (400, "INVALID_ARGUMENT")
    assert bad.value.message == "Unsupported aspect ratio: 1:1. Supported values: 16:9, 9:16."
    with pytest.raises(errors.ClientError) as retired:
        client.models.generate_videos(model="veo-3.0-generate-001", source=source, config=standard_config())
    assert retired.value.code == 404 and "is no longer available" in (retired.value.message or "")
    httpx.post(
        f"{emulator.base_url}/_emulator/faults", json=[{"route": "submit", "fault": {"kind": "http", "status": 503}}]
    )
    with pytest.raises(errors.ServerError) as unavailable:
        client.models.generate_videos(model=MODEL, source=source, config=standard_config())
    assert (unavailable.value.code, unavailable.value.status) == (503, "UNAVAILABLE")
    # Keep a reference: a temporary genai.Client closes its HTTP client when garbage-collected mid-call.
    revoked = genai.Client(
        vertexai=True,
        project="p",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token="revoked-token"),
        http_options=types.HttpOptions(base_url=emulator.base_url + "/"),
    )
    with pytest.raises(errors.ClientError) as unauthenticated:
        revoked.models.generate_videos(model=MODEL, source=source, config=standard_config())
    assert unauthenticated.value.code == 401
    assert "revoked-token" not in json.dumps(unauthenticated.value.details)
    assert emulator.stats()["submits_total"] == 0


async def test_async_client_against_async_started_emulator(emulator_config: EmulatorConfig, tmp_path: Path) -> None:
    async with EmulatorServer(emulator_config) as emu:
        client = express_client(emu)
        op = await client.aio.models.generate_videos(
            model=MODEL, source=types.GenerateVideosSource(prompt="a lighthouse at dusk"), config=standard_config()
        )
        deadline = time.monotonic() + 60
        while not op.done:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
            op = await client.aio.operations.get(op)
        assert_standard_video(video_file(op, tmp_path / "async.mp4"))
        assert emu.stats()["submits_total"] == 1


# -- the Gemini Developer API client: operations and file downloads --------------------------------------------
def gemini_submit(emu: EmulatorServer, prompt: str = "paper boats on a pond") -> str:
    """A Gemini predictLongRunning over raw HTTP: google-genai 3.x refuses to create videos in Gemini mode."""
    with httpx.Client(base_url=emu.base_url) as http:  # over TLS, SSL_CERT_FILE (set by the fixture) trusts it
        r = http.post(
            "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
            headers={"x-goog-api-key": "test-key"},
            json={"instances": [{"prompt": prompt}], "parameters": {"durationSeconds": 4}},
        )
    assert r.status_code == 200, r.text
    name: str = r.json()["name"]
    return name


def gemini_client(emu: EmulatorServer, api_version: str | None = "v1beta") -> genai.Client:
    return genai.Client(
        api_key="test-key", http_options=types.HttpOptions(base_url=emu.base_url + "/", api_version=api_version)
    )


def test_gemini_files_download_needs_https_uris(tls_emulator: EmulatorServer, tmp_path: Path) -> None:
    """Over the TLS listener the file URIs are https://, so ``files.download(file=video)`` works unchanged (the
    SDK takes the id only from https:// URIs) and sets ``video.video_bytes``."""
    client = gemini_client(tls_emulator)
    op = wait(client, types.GenerateVideosOperation(name=gemini_submit(tls_emulator)))
    assert op.response is not None and op.response.generated_videos
    video = op.response.generated_videos[0].video
    assert video is not None and video.uri is not None and video.uri.startswith("https://")
    data = client.files.download(file=video)
    assert video.video_bytes == data
    file_id = video.uri.split("files/")[1].split(":")[0]
    stored = tls_emulator.state.file(file_id)
    assert stored is not None and data == stored.file.path.read_bytes()  # unchanged, byte for byte
    (tmp_path / "gemini.mp4").write_bytes(data)
    assert_standard_video(tmp_path / "gemini.mp4", duration=4)
    # The SDK's default API version for the Gemini client is v1; the Files API answers there too.
    assert gemini_client(tls_emulator, api_version=None).files.download(file=types.Video(uri=video.uri)) == data


def test_gemini_plain_http_uris_need_the_file_name_workaround(emulator: EmulatorServer) -> None:
    """Without TLS the URI is http://, which the SDK does not parse; passing ``files/<id>`` works (README)."""
    client = gemini_client(emulator)
    op = wait(client, types.GenerateVideosOperation(name=gemini_submit(emulator)))
    assert op.response is not None and op.response.generated_videos
    video = op.response.generated_videos[0].video
    assert video is not None and video.uri is not None and video.uri.startswith("http://")
    with pytest.raises(errors.ClientError) as refused:
        client.files.download(file=video)
    assert refused.value.code == 404
    data = client.files.download(file="files/" + video.uri.split("files/")[1].split(":")[0])
    assert data[4:8] == b"ftyp"
