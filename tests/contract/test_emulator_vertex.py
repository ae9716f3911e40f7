"""Contract: the emulator speaks Vertex AI's Veo protocol, over real loopback HTTP with raw httpx."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import google.auth
import google.auth.transport.requests
import google.oauth2.credentials
import httpx
import numpy as np
import psutil
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import compute_engine
from google.auth.compute_engine import _metadata
from google.oauth2 import service_account
from PIL import Image

from veokit.emulator import EmulatorServer
from veokit.media.frames import frame_at_rgb
from veokit.media.probe import first_frame_rgb, last_frame_rgb, probe_mp4

MODEL = "veo-3.1-generate-001"
BEARER = {"Authorization": "Bearer test-token"}
KEY = {"x-goog-api-key": "test-key"}
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


# -- helpers ------------------------------------------------------------------------------------------
def project_path(model: str = MODEL, method: str = "predictLongRunning", version: str = "v1") -> str:
    return f"/{version}/projects/proj-1/locations/us-central1/publishers/google/models/{model}:{method}"


def express_path(model: str = MODEL, method: str = "predictLongRunning", version: str = "v1beta1") -> str:
    return f"/{version}/publishers/google/models/{model}:{method}"


def body(
    prompt: str = "a lighthouse at dusk", *, instance: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    return {"instances": [{"prompt": prompt, **(instance or {})}], "parameters": params}


def submit(
    http: httpx.Client,
    doc: dict[str, Any],
    *,
    model: str = MODEL,
    headers: dict[str, str] = BEARER,
    path: str | None = None,
    params: dict[str, str] | None = None,
) -> str:
    r = http.post(path or project_path(model), json=doc, headers=headers, params=params)
    assert r.status_code == 200, r.text
    name: str = r.json()["name"]
    return name


def poll(
    http: httpx.Client,
    name: str,
    *,
    model: str = MODEL,
    headers: dict[str, str] = BEARER,
    path: str | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    return http.post(
        path or project_path(model, "fetchPredictOperation"),
        json={"operationName": name},
        headers=headers,
        params=params,
    )


def wait_done(http: httpx.Client, name: str, timeout_s: float = 60, **kw: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = poll(http, name, **kw)
        assert r.status_code == 200, r.text
        op: dict[str, Any] = r.json()
        if op.get("done"):
            return op
        assert time.monotonic() < deadline, f"{name} not done after {timeout_s} s"
        time.sleep(0.05)


def save(video: dict[str, Any], path: Path) -> Path:
    path.write_bytes(base64.b64decode(video["bytesBase64Encoded"]))
    return path


def rpc_error(r: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    assert r.status_code == http_status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == http_status
    assert err["status"] == status
    return err


def png(width: int, height: int, colours: list[tuple[int, int, int]]) -> bytes:
    """Four flat quadrants: easy to recognise after lossy encoding."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    arr[:h2, :w2], arr[:h2, w2:], arr[h2:, :w2], arr[h2:, w2:] = colours
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def image_doc(data: bytes) -> dict[str, str]:
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": "image/png"}


def sha10(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:10]


# -- generation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "size", "duration", "audio"),
    [
        ({}, (1280, 720), 8, "aac"),  # the defaults: 720p, 16:9, 8 s, audio
        ({"aspectRatio": "9:16", "durationSeconds": 4, "generateAudio": False}, (720, 1280), 4, None),
    ],
)
def test_text_to_video_inline_mp4_matches_request(
    emu_http: httpx.Client,
    tmp_path: Path,
    params: dict[str, Any],
    size: tuple[int, int],
    duration: int,
    audio: str | None,
) -> None:
    name = submit(emu_http, body(**params))
    assert re.fullmatch(
        rf"projects/proj-1/locations/us-central1/publishers/google/models/{MODEL}"
        r"/operations/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        name,
    )
    op = wait_done(emu_http, name)
    assert op["name"] == name
    assert "error" not in op
    response = op["response"]
    assert response["@type"] == RESPONSE_TYPE
    assert response["raiMediaFilteredCount"] == 0
    assert [v["mimeType"] for v in response["videos"]] == ["video/mp4"]
    info = probe_mp4(save(response["videos"][0], tmp_path / "out.mp4"))
    assert (info.width, info.height) == size
    assert info.duration_s == pytest.approx(duration, abs=0.1)
    assert info.fps == pytest.approx(24)
    assert info.video_codec == "h264"
    assert info.audio_codec == audio


def test_running_operation_is_not_done_until_latency_elapses(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    emulator.state.set_latency(3600)
    name = submit(emu_http, body())
    r = poll(emu_http, name)
    assert r.status_code == 200
    assert r.json() == {"name": name}  # google.longrunning JSON omits done=false
    [listed] = emu_http.get("/_emulator/operations").json()["operations"]
    assert (listed["name"], listed["model"], listed["protocol"], listed["state"]) == (name, MODEL, "vertex", "running")
    emulator.state.clock.advance(3601)  # no sleeping: the emulator clock jumps past the latency
    assert wait_done(emu_http, name)["response"]["videos"]


def test_poll_accepts_either_api_version_and_express_mode_uses_a_key(emu_http: httpx.Client) -> None:
    name = submit(emu_http, body())
    assert wait_done(emu_http, name, path=project_path(method="fetchPredictOperation", version="v1beta1"))["done"]
    express = submit(emu_http, body(), path=express_path(), headers=KEY)
    assert re.fullmatch(rf"publishers/google/models/{MODEL}/operations/[0-9a-f-]{{36}}", express)
    op = wait_done(
        emu_http, express, path=express_path(method="fetchPredictOperation"), headers={}, params={"key": "test-key"}
    )
    assert op["response"]["videos"][0]["bytesBase64Encoded"]


def test_sample_count_two_gives_two_distinct_videos(emu_http: httpx.Client, tmp_path: Path) -> None:
    op = wait_done(emu_http, submit(emu_http, body(sampleCount=2)))
    videos = op["response"]["videos"]
    assert len(videos) == 2
    paths = [save(v, tmp_path / f"s{i}.mp4") for i, v in enumerate(videos)]
    assert paths[0].read_bytes() != paths[1].read_bytes()
    assert [(p.width, p.height) for p in map(probe_mp4, paths)] == [(1280, 720), (1280, 720)]


def test_first_and_last_frames_follow_the_input_images(emu_http: httpx.Client, tmp_path: Path) -> None:
    first = png(1280, 720, [(220, 30, 30), (30, 220, 30), (30, 30, 220), (230, 230, 40)])
    last = png(1280, 720, [(250, 250, 250), (10, 10, 10), (200, 120, 0), (0, 140, 160)])
    doc = body("a door opens", instance={"image": image_doc(first), "lastFrame": image_doc(last)}, durationSeconds=4)
    path = save(wait_done(emu_http, submit(emu_http, doc))["response"]["videos"][0], tmp_path / "frames.mp4")
    want_first = np.asarray(Image.open(io.BytesIO(first)).convert("RGB"), dtype=np.float32)
    want_last = np.asarray(Image.open(io.BytesIO(last)).convert("RGB"), dtype=np.float32)
    assert np.abs(first_frame_rgb(path).astype(np.float32) - want_first).mean() < 6
    assert np.abs(last_frame_rgb(path).astype(np.float32) - want_last).mean() < 6
    assert np.abs(first_frame_rgb(path).astype(np.float32) - want_last).mean() > 40


def test_extension_adds_seven_seconds_from_bytes_or_gcs(emu_http: httpx.Client, tmp_path: Path) -> None:
    source = wait_done(emu_http, submit(emu_http, body(storageUri="gs://clips/src")))["response"]["videos"][0]
    media = emu_http.get(
        f"/storage/v1/b/clips/o/{quote(source['gcsUri'][len('gs://clips/') :], safe='')}",
        params={"alt": "media"},
        headers=BEARER,
    )
    inputs = [
        {"bytesBase64Encoded": base64.b64encode(media.content).decode(), "mimeType": "video/mp4"},
        {"gcsUri": source["gcsUri"], "mimeType": "video/mp4"},
    ]
    original = tmp_path / "source.mp4"
    original.write_bytes(media.content)
    for i, video in enumerate(inputs):
        op = wait_done(emu_http, submit(emu_http, body("the lighthouse at night", instance={"video": video})))
        path = save(op["response"]["videos"][0], tmp_path / f"ext{i}.mp4")
        info = probe_mp4(path)
        assert info.duration_s == pytest.approx(8 + 7, abs=0.1)
        assert (info.width, info.height) == (1280, 720) and info.audio_codec == "aac"
        # Like Veo, the result is the input video followed by the new seconds, which start where it ends.
        assert _diff(first_frame_rgb(path), first_frame_rgb(original)) < 3
        assert _diff(frame_at_rgb(path, 8 - 1 / 24), last_frame_rgb(original)) < 3
        assert _diff(frame_at_rgb(path, 8), last_frame_rgb(original)) < 3
        assert _diff(last_frame_rgb(path), last_frame_rgb(original)) > 3


def _diff(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# -- outcomes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("samples", [1, 2])
def test_rai_filtered_operation_has_reasons_and_no_videos(emu_http: httpx.Client, samples: int) -> None:
    op = wait_done(emu_http, submit(emu_http, body("[emulate:filtered] a crowd", sampleCount=samples)))
    assert op["done"] is True
    assert "error" not in op
    response = op["response"]
    assert response["@type"] == RESPONSE_TYPE
    assert response["raiMediaFilteredCount"] == samples
    assert response["raiMediaFilteredReasons"] and all("Support code" in r for r in response["raiMediaFilteredReasons"])
    assert "videos" not in response


def test_partial_filter_returns_the_videos_that_passed_and_the_count(emu_http: httpx.Client, tmp_path: Path) -> None:
    op = wait_done(emu_http, submit(emu_http, body("[emulate:filtered:1] a crowd", sampleCount=3, durationSeconds=4)))
    response = op["response"]
    assert "error" not in op
    assert response["raiMediaFilteredCount"] == 1
    assert len(response["raiMediaFilteredReasons"]) == 1
    assert len(response["videos"]) == 2
    for i, video in enumerate(response["videos"]):
        info = probe_mp4(save(video, tmp_path / f"{i}.mp4"))
        assert (info.width, info.height, round(info.duration_s)) == (1280, 720, 4)
    # N at or above the sample count blocks them all, as the plain marker does
    everything = wait_done(emu_http, submit(emu_http, body("[emulate:filtered:5] a crowd", sampleCount=2)))
    assert everything["response"]["raiMediaFilteredCount"] == 2 and "videos" not in everything["response"]


def test_outcome_fault_can_filter_some_samples(emu_http: httpx.Client) -> None:
    rule = {"route": "submit", "fault": {"kind": "outcome", "outcome": "filtered", "count": 2, "reasons": ["r1", "r2"]}}
    assert emu_http.post("/_emulator/faults", json=[rule]).status_code == 200
    op = wait_done(emu_http, submit(emu_http, body("a crowd", sampleCount=4, durationSeconds=4)))
    assert op["response"]["raiMediaFilteredCount"] == 2
    assert op["response"]["raiMediaFilteredReasons"] == ["r1", "r2"]
    assert len(op["response"]["videos"]) == 2
    bad = {**rule, "fault": {"kind": "outcome", "outcome": "filtered", "count": 0}}
    r = emu_http.post("/_emulator/faults", json=[bad])
    assert r.status_code == 400 and "fault.count" in r.json()["error"]["message"]


def test_failed_operation_carries_a_google_rpc_status(emu_http: httpx.Client) -> None:
    op = wait_done(emu_http, submit(emu_http, body("[emulate:failed] a storm")))
    assert op["done"] is True
    assert "response" not in op
    # google.rpc.Status has code, message and details; the HTTP error body's "status" name is not part of it.
    assert set(op["error"]) <= {"code", "message", "details"}
    assert op["error"]["code"] == 13
    assert op["error"]["message"]


# -- validation, models, auth -------------------------------------------------------------------------
_PNG = image_doc(png(64, 36, [(1, 2, 3)] * 4))


@pytest.mark.parametrize(
    ("model", "doc", "message"),
    [
        (MODEL, body(aspectRatio="1:1"), "Unsupported aspect ratio: 1:1. Supported values: 16:9, 9:16."),
        (MODEL, body(resolution="4k", durationSeconds=4), "durationSeconds must be 8 when resolution is 4k"),
        (MODEL, body(sampleCount=5), "sampleCount must be between 1 and 4"),
        (MODEL, body(durationSeconds=5), "Unsupported durationSeconds: 5. Supported values: 4, 6, 8."),
        (MODEL, body(resolution="8k"), "Unsupported resolution: 8k. Supported values: 720p, 1080p, 4k."),
        (MODEL, body(storageUri="s3://bucket/x"), "storageUri must be a Cloud Storage URI"),
        (MODEL, body(seed=-1), "seed must be between 0 and 4294967295"),
        (MODEL, body(fps=30), "Unsupported fps: 30"),
        (MODEL, body(personGeneration="allow_everyone"), "personGeneration allow_everyone is not supported"),
        (MODEL, body(instance={"lastFrame": _PNG}), "lastFrame requires instances[0].image"),
        (
            MODEL,
            body(instance={"referenceImages": [{"image": _PNG, "referenceType": "asset"}] * 4}),
            "at most 3 reference images",
        ),
        (
            MODEL,
            body(instance={"referenceImages": [{"image": _PNG, "referenceType": "STYLE"}]}),
            "referenceType STYLE is not supported",
        ),
        (
            MODEL,
            body(instance={"image": {"bytesBase64Encoded": "bm90IGFuIGltYWdl", "mimeType": "image/png"}}),
            "instances[0].image: the image must be a PNG, JPEG or WebP file",
        ),
        (
            MODEL,
            body(
                instance={
                    "image": {
                        "bytesBase64Encoded": base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 40).decode(),
                        "mimeType": "image/png",
                    }
                }
            ),
            "instances[0].image: the image could not be decoded",
        ),
        (
            MODEL,
            body(instance={"image": {"gcsUri": "gs://b/none.png", "mimeType": "image/png"}}),
            "instances[0].image.gcsUri: gs://b/none.png does not exist",
        ),
        (
            MODEL,
            body(instance={"video": {"bytesBase64Encoded": "bm90IGEgdmlkZW8="}}),
            "instances[0].video: the video is not a valid MP4 file",
        ),
        (
            MODEL,
            body(durationSeconds=4, instance={"video": {"gcsUri": "gs://b/x.mp4"}}),
            "durationSeconds must be 8 when extending a video",
        ),
        (
            MODEL,
            body(resolution="1080p", instance={"video": {"gcsUri": "gs://b/x.mp4"}}),
            "resolution 1080p is not supported for video extension",
        ),
        (
            "veo-3.1-lite-generate-001",
            body(instance={"image": _PNG, "lastFrame": _PNG}),
            "instances[0].lastFrame: first last frame is not supported by model veo-3.1-lite-generate-001",
        ),
        (MODEL, {**body(), "extra": 1}, 'Unknown name "extra"'),
        (MODEL, {"instances": [], "parameters": {}}, "exactly one instance"),
    ],
)
def test_invalid_requests_get_400_naming_the_field(
    emulator: EmulatorServer, emu_http: httpx.Client, model: str, doc: dict[str, Any], message: str
) -> None:
    err = rpc_error(emu_http.post(project_path(model), json=doc, headers=BEARER), 400, "INVALID_ARGUMENT")
    assert message in err["message"]
    assert emulator.stats()["submits_total"] == 0  # rejected requests are not billed


def test_malformed_json_is_invalid_argument(emu_http: httpx.Client) -> None:
    r = emu_http.post(project_path(), content=b"{not json", headers={**BEARER, "content-type": "application/json"})
    assert "Invalid JSON payload" in rpc_error(r, 400, "INVALID_ARGUMENT")["message"]


def test_unknown_and_retired_models_are_404(emu_http: httpx.Client) -> None:
    err = rpc_error(emu_http.post(project_path("veo-9-ultra"), json=body(), headers=BEARER), 404, "NOT_FOUND")
    assert err["message"].startswith(
        "Publisher Model `projects/proj-1/locations/us-central1/publishers/google/"
        "models/veo-9-ultra` was not found or your project does not have access"
    )
    err = rpc_error(emu_http.post(project_path("veo-3.0-generate-001"), json=body(), headers=BEARER), 404, "NOT_FOUND")
    assert err["message"].startswith("models/veo-3.0-generate-001 is no longer available.")
    assert "veo-3.1-generate-001" in err["message"]  # the catalog's replacement


def test_as_of_decides_which_models_are_retired(make_emulator: Any) -> None:
    emu = make_emulator(as_of=dt.date(2026, 6, 1))  # a month before Veo 3.0 left Vertex
    with httpx.Client(base_url=emu.base_url) as http:
        name = submit(http, body("[emulate:filtered] old model"), model="veo-3.0-generate-001")
        assert name.startswith("projects/proj-1/locations/us-central1/publishers/google/models/veo-3.0-generate-001/")


@pytest.mark.parametrize(
    ("path", "headers", "http_status", "status", "reason", "text"),
    [
        (project_path(), {}, 401, "UNAUTHENTICATED", "CREDENTIALS_MISSING", "Request is missing required"),
        (
            project_path(),
            {"Authorization": "Bearer wrong-token-123"},
            401,
            "UNAUTHENTICATED",
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            "Request had invalid authentication credentials. Expected OAuth 2",
        ),
        (project_path(), KEY, 401, "UNAUTHENTICATED", "CREDENTIALS_MISSING", "Request is missing required"),
        (express_path(), {}, 403, "PERMISSION_DENIED", None, "Method doesn't allow unregistered callers"),
        (
            express_path(),
            {"x-goog-api-key": "wrong-key-123"},
            400,
            "INVALID_ARGUMENT",
            "API_KEY_INVALID",
            "API key not valid. Please pass a valid API key.",
        ),
    ],
)
def test_auth_failures(
    emulator: EmulatorServer,
    emu_http: httpx.Client,
    path: str,
    headers: dict[str, str],
    http_status: int,
    status: str,
    reason: str | None,
    text: str,
) -> None:
    r = emu_http.post(path, json=body(), headers=headers)
    err = rpc_error(r, http_status, status)
    assert err["message"].startswith(text)
    if reason is None:
        assert "details" not in err
    else:
        assert err["details"] == [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com"},
            }
        ]
    assert "wrong-" not in r.text  # a credential is never echoed
    assert emulator.stats()["submits_total"] == 0


def test_poll_of_unknown_operation_is_404_and_needs_credentials(emu_http: httpx.Client) -> None:
    name = f"projects/proj-1/locations/us-central1/publishers/google/models/{MODEL}/operations/nope"
    rpc_error(poll(emu_http, name), 404, "NOT_FOUND")
    rpc_error(poll(emu_http, name, headers={}), 401, "UNAUTHENTICATED")
    rpc_error(poll(emu_http, "no-operations-here"), 400, "INVALID_ARGUMENT")


# -- Cloud Storage ------------------------------------------------------------------------------------
def test_storage_uri_delivers_gcs_objects_served_with_bearer_and_ranges(emu_http: httpx.Client, tmp_path: Path) -> None:
    name = submit(emu_http, body(storageUri="gs://veo-out/runs/"))
    videos = wait_done(emu_http, name)["response"]["videos"]
    op_id = name.rpartition("/")[2]
    assert videos == [{"gcsUri": f"gs://veo-out/runs/{op_id}/sample_0.mp4", "mimeType": "video/mp4"}]
    obj = f"runs/{op_id}/sample_0.mp4"
    url = f"/storage/v1/b/veo-out/o/{quote(obj, safe='')}"

    assert emu_http.get(url, params={"alt": "media"}).status_code == 401
    bad = emu_http.get(url, params={"alt": "media"}, headers={"Authorization": "Bearer nope-123"})
    assert bad.status_code == 401
    assert bad.json()["error"]["errors"][0]["reason"] == "authError"
    assert "nope-123" not in bad.text

    meta = emu_http.get(url, headers=BEARER).json()
    full = emu_http.get(url, params={"alt": "media"}, headers=BEARER)
    assert full.status_code == 200
    size = int(meta["size"])
    assert (meta["name"], meta["bucket"], meta["contentType"]) == (obj, "veo-out", "video/mp4")
    assert len(full.content) == size == int(full.headers["content-length"])
    assert meta["md5Hash"] == base64.b64encode(hashlib.md5(full.content).digest()).decode()
    (tmp_path / "gcs.mp4").write_bytes(full.content)
    info = probe_mp4(tmp_path / "gcs.mp4")
    assert (info.width, info.height, round(info.duration_s)) == (1280, 720, 8)

    def ranged(spec: str) -> httpx.Response:
        return emu_http.get(url, params={"alt": "media"}, headers={**BEARER, "Range": spec})

    r = ranged("bytes=100-")
    assert (r.status_code, r.headers["content-range"]) == (206, f"bytes 100-{size - 1}/{size}")
    assert r.content == full.content[100:]
    assert ranged("bytes=0-99").content == full.content[:100]
    assert ranged("bytes=-50").content == full.content[-50:]
    r = ranged(f"bytes={size}-")
    assert (r.status_code, r.headers["content-range"]) == (416, f"bytes */{size}")

    alt = emu_http.get(
        f"/download/storage/v1/b/veo-out/o/{quote(obj, safe='')}", params={"alt": "media"}, headers=BEARER
    )
    assert alt.content == full.content
    missing = emu_http.get("/storage/v1/b/veo-out/o/none.mp4", params={"alt": "media"}, headers=BEARER)
    assert (missing.status_code, missing.json()["error"]["errors"][0]["reason"]) == (404, "notFound")


# -- OAuth and the metadata server ---------------------------------------------------------------------
def _service_account_info(token_uri: str) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "ci-runner@proj-1.iam.gserviceaccount.com",
        "client_id": "1234",
        "token_uri": token_uri,
    }


def test_service_account_credentials_fetch_and_refresh_tokens(make_emulator: Any) -> None:
    emu = make_emulator(token_lifetime_s=60)
    creds = service_account.Credentials.from_service_account_info(
        _service_account_info(emu.base_url + "/token"), scopes=[CLOUD_PLATFORM]
    )
    creds.refresh(google.auth.transport.requests.Request())  # a real JWT-bearer grant to the emulator
    first = creds.token
    assert first.startswith("ya29.")
    sa = "sa:ci-runner@proj-1.iam.gserviceaccount.com"
    with httpx.Client(base_url=emu.base_url) as http:
        submit(http, body("[emulate:filtered] sa"), headers={"Authorization": f"Bearer {first}"})
        assert emu.stats()["submits"] == {sa: {MODEL: 1}}

        emu.state.clock.advance(61)
        r = http.post(project_path(), json=body(), headers={"Authorization": f"Bearer {first}"})
        assert rpc_error(r, 401, "UNAUTHENTICATED")["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"

        creds.refresh(google.auth.transport.requests.Request())
        assert creds.token != first
        submit(http, body("[emulate:filtered] sa"), headers={"Authorization": f"Bearer {creds.token}"})
        stats = emu.stats()
    assert stats["submits"] == {sa: {MODEL: 2}}
    assert stats["tokens_issued"] == 2
    assert first not in json.dumps(stats) and creds.token not in json.dumps(stats)


def test_authorized_user_refresh_token_grant(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    creds = google.oauth2.credentials.Credentials(
        token=None,
        refresh_token="rt-secret-1",
        client_id="cid.apps.googleusercontent.com",
        client_secret="cs-secret",
        token_uri=emulator.base_url + "/token",
    )
    creds.refresh(google.auth.transport.requests.Request())
    submit(emu_http, body("[emulate:filtered] user"), headers={"Authorization": f"Bearer {creds.token}"})
    stats = emulator.stats()
    assert stats["submits"] == {"user:" + sha10("rt-secret-1"): {MODEL: 1}}
    assert "rt-secret-1" not in json.dumps(stats)


def test_token_endpoint_rejects_bad_grants(emu_http: httpx.Client) -> None:
    jwt = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    r = emu_http.post("/token", data={"grant_type": jwt, "assertion": "not-a-jwt"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    r = emu_http.post("/token", data={"grant_type": "password", "username": "u"})
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_grant_type")
    r = emu_http.post("/token", data={"grant_type": "refresh_token", "client_id": "c"})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")


def test_compute_engine_credentials_via_metadata_server(
    emulator: EmulatorServer, emu_http: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    host = emulator.base_url.removeprefix("http://")
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)  # ping() reads this one, at call time
    # google-auth reads GCE_METADATA_HOST once, at import: point the already-imported module at us too.
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", host)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file can win over the metadata server
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)

    request = google.auth.transport.requests.Request()
    assert _metadata.ping(request)
    creds, project = google.auth.default(scopes=[CLOUD_PLATFORM])
    assert isinstance(creds, compute_engine.Credentials)
    assert project == emulator.config.project_id
    creds.refresh(request)
    assert creds.service_account_email == emulator.config.service_account_email
    submit(emu_http, body("[emulate:filtered] gce"), headers={"Authorization": f"Bearer {creds.token}"})
    assert emulator.stats()["submits"] == {f"sa:{emulator.config.service_account_email}": {MODEL: 1}}
    refused = emu_http.get("/computeMetadata/v1/project/project-id")  # no Metadata-Flavor header
    assert refused.status_code == 403


# -- stats, admin, faults -------------------------------------------------------------------------------
def test_stats_count_submits_per_credential_and_never_show_secrets(
    emulator: EmulatorServer, emu_http: httpx.Client
) -> None:
    filtered = body("[emulate:filtered] stats")
    names = [
        submit(emu_http, filtered, headers={**BEARER, "x-goog-user-project": "billing-proj"}),
        submit(emu_http, filtered),
        submit(emu_http, filtered, path=express_path(), headers={"x-goog-api-key": "second-key"}),
        submit(emu_http, filtered, path=express_path(), headers={}, params={"key": "test-key"}),
    ]
    for name in names[:2]:
        wait_done(emu_http, name)
    stats = emu_http.get("/_emulator/stats").json()
    assert stats["submits"] == {
        "token:" + sha10("test-token"): {MODEL: 2},
        "key:" + sha10("second-key"): {MODEL: 1},
        "key:" + sha10("test-key"): {MODEL: 1},
    }
    assert stats["submits_total"] == 4
    assert stats["operations"] == 4
    assert stats["user_projects"] == {"billing-proj": 1}
    assert stats["polls"] >= 2
    assert stats == emulator.stats()
    dumped = json.dumps(stats) + emu_http.get("/_emulator/operations").text
    for secret in ("test-token", "test-key", "second-key"):
        assert secret not in dumped


def test_http_faults_fire_in_order_then_clear(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    rules = [
        {"route": "submit", "times": 2, "fault": {"kind": "http", "status": 429, "headers": {"Retry-After": "2"}}},
        {"route": "submit", "fault": {"kind": "http", "status": 503}},
    ]
    assert len(emu_http.post("/_emulator/faults", json=rules).json()["rules"]) == 2
    filtered = body("[emulate:filtered] faults")
    for _ in range(2):
        r = emu_http.post(project_path(), json=filtered, headers=BEARER)
        assert r.headers["retry-after"] == "2"
        rpc_error(r, 429, "RESOURCE_EXHAUSTED")
    rpc_error(emu_http.post(project_path(), json=filtered, headers=BEARER), 503, "UNAVAILABLE")
    submit(emu_http, filtered)
    stats = emulator.stats()
    assert (stats["submits_total"], stats["faults_fired"]) == (1, 3)
    assert emu_http.get("/_emulator/faults").json() == {"rules": []}


def test_outcome_fault_applies_to_its_model_only(emu_http: httpx.Client) -> None:
    fast = "veo-3.1-fast-generate-001"
    emu_http.post(
        "/_emulator/faults",
        json={
            "rules": [
                {"route": "submit", "model": fast, "fault": {"kind": "outcome", "outcome": "failed", "message": "boom"}}
            ]
        },
    )
    other = wait_done(emu_http, submit(emu_http, body("[emulate:filtered] x")))
    assert other["response"]["raiMediaFilteredCount"] == 1
    failed = wait_done(emu_http, submit(emu_http, body("a"), model=fast), model=fast)
    assert failed["error"] == {"code": 13, "message": "boom"}
    again = wait_done(emu_http, submit(emu_http, body("[emulate:filtered] y"), model=fast), model=fast)
    assert "error" not in again  # times defaults to 1


def test_delay_then_http_fault_on_poll(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    name = submit(emu_http, body("[emulate:filtered] slow poll"))
    emu_http.post(
        "/_emulator/faults",
        json=[
            {"route": "poll", "fault": {"kind": "delay", "seconds": 0.4}},
            {"route": "poll", "fault": {"kind": "http", "status": 500}},
        ],
    )
    started = time.monotonic()
    assert poll(emu_http, name).status_code == 200
    assert time.monotonic() - started >= 0.4
    rpc_error(poll(emu_http, name), 500, "INTERNAL")
    assert poll(emu_http, name).status_code == 200
    assert (emulator.stats()["polls"], emulator.stats()["faults_fired"]) == (3, 2)  # faulted polls count too


def test_truncate_fault_cuts_a_download_short(emu_http: httpx.Client) -> None:
    name = submit(emu_http, body(storageUri="gs://cut/"))
    uri = wait_done(emu_http, name)["response"]["videos"][0]["gcsUri"]
    url = f"/storage/v1/b/cut/o/{quote(uri[len('gs://cut/') :], safe='')}"
    emu_http.post("/_emulator/faults", json=[{"route": "download", "fault": {"kind": "truncate", "after_bytes": 1000}}])
    with pytest.raises(httpx.RemoteProtocolError):
        emu_http.get(url, params={"alt": "media"}, headers=BEARER)
    whole = emu_http.get(url, params={"alt": "media"}, headers=BEARER)
    assert len(whole.content) == int(whole.headers["content-length"]) > 1000


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"route": "submit", "fault": {"kind": "explode"}}, "fault.kind must be one of"),
        ({"route": "poll", "fault": {"kind": "outcome", "outcome": "failed"}}, "cannot fire on route poll"),
        ({"route": "everywhere", "fault": {"kind": "delay", "seconds": 1}}, "route must be one of"),
        ({"route": "submit", "times": 0, "fault": {"kind": "delay", "seconds": 1}}, "times must be >= 1"),
        ({"route": "submit", "fault": {"kind": "http", "status": 200}}, "fault.status must be an HTTP error"),
    ],
)
def test_invalid_fault_rules_are_rejected(emu_http: httpx.Client, rule: dict[str, Any], message: str) -> None:
    r = emu_http.post("/_emulator/faults", json=[{"route": "submit", "fault": {"kind": "delay", "seconds": 0}}, rule])
    assert message in rpc_error(r, 400, "INVALID_ARGUMENT")["message"]
    assert emu_http.get("/_emulator/faults").json() == {"rules": []}  # all or nothing


def test_admin_config_clock_and_reset(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    assert emu_http.post("/_emulator/config", json={"latency_s": 0.05}).json()["latency_s"] == 0.05
    assert emulator.state.config.latency_s == 0.05
    ranged = emu_http.post("/_emulator/config", json={"latency_range_s": [0.0, 0.1]}).json()
    assert ranged["latency_range_s"] == [0.0, 0.1]
    rpc_error(emu_http.post("/_emulator/config", json={"retention_s": 1}), 400, "INVALID_ARGUMENT")
    rpc_error(emu_http.post("/_emulator/config", json={"latency_s": -1}), 400, "INVALID_ARGUMENT")
    before = emu_http.get("/_emulator/clock").json()["offset_s"]
    assert emu_http.post("/_emulator/clock", json={"advance_s": 10}).json()["offset_s"] == pytest.approx(before + 10)
    rpc_error(emu_http.post("/_emulator/clock", json={"advance_s": -1}), 400, "INVALID_ARGUMENT")
    submit(emu_http, body("[emulate:filtered] reset me"))
    assert len(emu_http.get("/_emulator/operations").json()["operations"]) == 1
    assert emu_http.post("/_emulator/reset").json() == {"ok": True}
    assert emu_http.get("/_emulator/operations").json() == {"operations": []}
    assert emulator.stats()["submits_total"] == 0


def test_latency_range_is_drawn_from_a_seeded_rng(make_emulator: Any) -> None:
    draws: list[list[float]] = []
    for _ in range(2):
        emu = make_emulator(latency_range_s=(100.0, 200.0), seed=42)
        with httpx.Client(base_url=emu.base_url) as http:
            for i in range(3):
                submit(http, body(f"[emulate:filtered] {i}"))
        draws.append([op.ready_at - op.created_at for op in emu.state.operations.values()])
    assert draws[0] == pytest.approx(draws[1], abs=1e-6)
    assert all(100 <= d <= 200 for d in draws[0]) and len(set(draws[0])) == 3


# -- the big inline response ----------------------------------------------------------------------------
class _Base64Sink:
    """Finds the first bytesBase64Encoded string in a streamed JSON body and hashes its decoded bytes."""

    MARKER = re.compile(rb'"bytesBase64Encoded"\s*:\s*"')

    def __init__(self) -> None:
        self.head = b""
        self.pending = b""
        self.inside = False
        self.finished = False
        self.sha = hashlib.sha256()

    def feed(self, chunk: bytes) -> None:
        if self.finished:
            return
        if not self.inside:
            self.head += chunk
            m = self.MARKER.search(self.head)
            if m is None:
                return
            self.inside, chunk = True, self.head[m.end() :]
        end = chunk.find(b'"')
        if end >= 0:
            chunk, self.finished = chunk[:end], True
        data = self.pending + chunk
        cut = len(data) if self.finished else len(data) - len(data) % 4
        self.sha.update(base64.b64decode(data[:cut]))
        self.pending = data[cut:]


@pytest.mark.slow
def test_inline_base64_response_streams_with_flat_memory(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    target = 120_000_000
    name = submit(emu_http, body(f"[emulate:large:{target}] a very long take", durationSeconds=4))
    op = emulator.state.operation(name.rpartition("/")[2])
    assert op is not None
    deadline = time.monotonic() + 60
    while (result := emulator.state.resolve(op)) is None:  # wait without pulling the huge body each poll
        assert time.monotonic() < deadline
        time.sleep(0.1)
    path = result.videos[0].file.path
    assert path.stat().st_size >= target
    with path.open("rb") as f:
        want = hashlib.file_digest(f, "sha256").hexdigest()

    proc = psutil.Process()
    baseline = peak = proc.memory_info().rss
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    sink, received = _Base64Sink(), 0
    try:
        with emu_http.stream(
            "POST", project_path(method="fetchPredictOperation"), json={"operationName": name}, headers=BEARER
        ) as r:
            assert r.status_code == 200
            length = int(r.headers["content-length"])
            for chunk in r.iter_raw():
                received += len(chunk)
                sink.feed(chunk)
    finally:
        stop.set()
        sampler.join()
    assert received == length > target * 4 // 3
    assert sink.finished and sink.sha.hexdigest() == want
    # Building the body in memory would cost > 160 MB (the base64 text alone); streaming costs a few chunks.
    assert peak - baseline < 48 * 2**20, f"RSS grew by {(peak - baseline) / 2**20:.0f} MiB"
