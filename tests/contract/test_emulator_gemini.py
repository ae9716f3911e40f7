"""Contract: the emulator speaks the Gemini API v1beta Veo protocol (also LiteLLM's /gemini passthrough)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from veokit.emulator import EmulatorServer
from veokit.media.probe import first_frame_rgb, probe_mp4

MODEL = "veo-3.1-generate-preview"  # live on the Gemini API until 2026-10-22; the emulator's as_of is before
KEY = {"x-goog-api-key": "test-key"}
RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"


def body(
    prompt: str = "a paper boat on a canal", *, instance: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    return {"instances": [{"prompt": prompt, **(instance or {})}], "parameters": params}


def submit(
    http: httpx.Client,
    doc: dict[str, Any],
    *,
    model: str = MODEL,
    headers: dict[str, str] = KEY,
    params: dict[str, str] | None = None,
) -> str:
    r = http.post(f"/v1beta/models/{model}:predictLongRunning", json=doc, headers=headers, params=params)
    assert r.status_code == 200, r.text
    name: str = r.json()["name"]
    return name


def wait_done(http: httpx.Client, name: str, *, headers: dict[str, str] = KEY, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = http.get(f"/v1beta/{name}", headers=headers)
        assert r.status_code == 200, r.text
        op: dict[str, Any] = r.json()
        if op.get("done"):
            return op
        assert time.monotonic() < deadline, f"{name} not done after {timeout_s} s"
        time.sleep(0.05)


def samples(op: dict[str, Any]) -> list[str]:
    return [s["video"]["uri"] for s in op["response"]["generateVideoResponse"]["generatedSamples"]]


def file_id(uri: str) -> str:
    m = re.search(r"files/([a-z0-9]+)", uri)  # the google-genai SDK's own regex
    assert m is not None, uri
    return m.group(1)


def download(http: httpx.Client, uri: str, **kw: Any) -> httpx.Response:
    r = http.get(uri, headers=KEY, follow_redirects=True, **kw)
    assert r.status_code in (200, 206), r.text
    return r


def rpc_error(r: httpx.Response, http_status: int, status: str) -> dict[str, Any]:
    assert r.status_code == http_status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert (err["code"], err["status"]) == (http_status, status)
    return err


def test_generate_poll_and_download_through_a_signed_redirect(
    emulator: EmulatorServer, emu_http: httpx.Client, tmp_path: Path
) -> None:
    name = submit(emu_http, body(aspectRatio="9:16", durationSeconds=6))
    assert re.fullmatch(rf"models/{MODEL}/operations/[a-z0-9]+", name)
    op = wait_done(emu_http, name)
    assert op["name"] == name and "error" not in op
    assert op["response"]["@type"] == RESPONSE_TYPE
    gvr = op["response"]["generateVideoResponse"]
    assert (gvr["raiMediaFilteredCount"], gvr["raiMediaFilteredReasons"]) == (0, [])
    [uri] = samples(op)
    fid = file_id(uri)
    assert uri == f"{emulator.base_url}/v1beta/files/{fid}:download?alt=media"

    denied = emu_http.get(uri)  # no key: Google refuses (the famous UI 403)
    assert "unregistered callers" in rpc_error(denied, 403, "PERMISSION_DENIED")["message"]
    redirect = emu_http.get(uri, headers=KEY)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(f"{emulator.base_url}/_emulator/content/")
    content = httpx.get(location)  # a signed URL: no key needed
    assert content.status_code == 200
    (tmp_path / "g.mp4").write_bytes(content.content)
    info = probe_mp4(tmp_path / "g.mp4")
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (720, 1280, "h264", "aac")
    assert info.duration_s == pytest.approx(6, abs=0.1)

    assert download(emu_http, uri, params={"key": "test-key"}).content == content.content  # ?key= works too
    alt = download(emu_http, f"/download/v1beta/files/{fid}:download", params={"alt": "media"})
    assert alt.content == content.content
    head = httpx.head(location)
    assert (head.status_code, head.content, int(head.headers["content-length"])) == (200, b"", len(content.content))
    part = httpx.get(location, headers={"Range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, content.content[10:20])
    assert part.headers["content-range"] == f"bytes 10-19/{len(content.content)}"
    assert emulator.stats()["downloads"] == 4


def test_running_operation_is_just_its_name(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    emulator.state.set_latency(600)
    name = submit(emu_http, body("[emulate:filtered] waiting"))
    r = emu_http.get(f"/v1beta/{name}", headers=KEY)
    assert r.json() == {"name": name}
    emulator.state.clock.advance(601)
    assert wait_done(emu_http, name)["done"] is True


def test_file_metadata_and_expiry_after_retention(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    [uri] = samples(wait_done(emu_http, submit(emu_http, body())))
    fid = file_id(uri)
    meta = emu_http.get(f"/v1beta/files/{fid}", headers=KEY).json()
    assert (meta["name"], meta["mimeType"], meta["state"]) == (f"files/{fid}", "video/mp4", "ACTIVE")
    data = download(emu_http, uri).content
    assert int(meta["sizeBytes"]) == len(data)
    assert meta["sha256Hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    signed = emu_http.get(uri, headers=KEY).headers["location"]

    emulator.state.clock.advance(emulator.config.retention_s - 60)
    assert emu_http.get(uri, headers=KEY).status_code == 302  # still inside the 2-day window
    emulator.state.clock.advance(120)
    rpc_error(emu_http.get(uri, headers=KEY), 404, "NOT_FOUND")
    rpc_error(emu_http.get(f"/v1beta/files/{fid}", headers=KEY), 404, "NOT_FOUND")
    assert httpx.get(signed).status_code in (403, 404)  # the signed URL died too


def test_filtered_operation_shape(emu_http: httpx.Client) -> None:
    op = wait_done(emu_http, submit(emu_http, body("[emulate:filtered] a fight")))
    gvr = op["response"]["generateVideoResponse"]
    assert "generatedSamples" not in gvr  # clients that index [0] here crash: the emulator makes them find out
    assert gvr["raiMediaFilteredCount"] == 1
    assert len(gvr["raiMediaFilteredReasons"]) == 1 and "Support code" in gvr["raiMediaFilteredReasons"][0]
    assert "error" not in op


def test_partial_filter_lists_the_samples_that_passed(emu_http: httpx.Client) -> None:
    # Veo 2 is the Gemini model that takes sampleCount 2 (until its shutdown; the emulator's as_of is before).
    doc = body("[emulate:filtered:1] a crowd", sampleCount=2, durationSeconds=5)
    op = wait_done(emu_http, submit(emu_http, doc, model="veo-2.0-generate-001"))
    gvr = op["response"]["generateVideoResponse"]
    assert gvr["raiMediaFilteredCount"] == 1 and len(gvr["raiMediaFilteredReasons"]) == 1
    [uri] = samples(op)
    assert download(emu_http, uri).content[4:8] == b"ftyp"


def test_failed_operation_shape(emu_http: httpx.Client) -> None:
    op = wait_done(emu_http, submit(emu_http, body("[emulate:failed] a fire")))
    assert op["done"] is True and "response" not in op
    assert set(op["error"]) == {"code", "message"} and op["error"]["code"] == 13


def test_image_to_video_accepts_sdk_and_docs_image_shapes(emu_http: httpx.Client, tmp_path: Path) -> None:
    arr = np.zeros((720, 1280, 3), dtype=np.uint8)
    arr[:, :640] = (240, 200, 20)
    arr[:, 640:] = (20, 60, 200)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    b64 = base64.b64encode(buf.getvalue()).decode()
    for image in (
        {"bytesBase64Encoded": b64, "mimeType": "image/png"},
        {"inlineData": {"mimeType": "image/png", "data": b64}},
    ):
        doc = body("the flag waves", instance={"image": image}, durationSeconds=4, personGeneration="allow_adult")
        [uri] = samples(wait_done(emu_http, submit(emu_http, doc)))
        path = tmp_path / "i2v.mp4"
        path.write_bytes(download(emu_http, uri).content)
        assert np.abs(first_frame_rgb(path).astype(np.float32) - arr).mean() < 6


def test_extension_of_a_generated_file_adds_seven_seconds(
    emulator: EmulatorServer, emu_http: httpx.Client, tmp_path: Path
) -> None:
    [uri] = samples(wait_done(emu_http, submit(emu_http, body())))
    ext = wait_done(emu_http, submit(emu_http, body("the boat sails on", instance={"video": {"uri": uri}})))
    [ext_uri] = samples(ext)
    path = tmp_path / "ext.mp4"
    path.write_bytes(download(emu_http, ext_uri).content)
    assert probe_mp4(path).duration_s == pytest.approx(15, abs=0.1)

    emulator.state.clock.advance(emulator.config.retention_s + 1)
    r = emu_http.post(
        f"/v1beta/models/{MODEL}:predictLongRunning", headers=KEY, json=body("again", instance={"video": {"uri": uri}})
    )
    assert "does not exist or has expired" in rpc_error(r, 400, "INVALID_ARGUMENT")["message"]


@pytest.mark.parametrize(
    ("params", "instance", "message"),
    [
        ({"storageUri": "gs://b/x"}, {}, "storageUri parameter is not supported in Gemini API."),
        ({"sampleCount": 2}, {}, f"sampleCount must be 1 for model {MODEL}"),
        ({"aspectRatio": "1:1"}, {}, "Unsupported aspect ratio: 1:1. Supported values: 16:9, 9:16."),
        ({"resolution": "1080p", "durationSeconds": 6}, {}, "durationSeconds must be 8 when resolution is 1080p"),
        ({"generateAudio": False}, {}, "generateAudio=false is not supported"),
        ({"personGeneration": "allow_adult"}, {}, "personGeneration allow_adult is not supported for text-to-video"),
        ({}, {"video": {"encodedVideo": "AAAA", "encoding": "video/mp4"}}, "video bytes are not supported in Gemini"),
        ({}, {"video": {"uri": "https://example.com/v.mp4"}}, "does not exist or has expired"),
        ({}, {"image": {"gcsUri": "gs://b/i.png", "mimeType": "image/png"}}, "gcsUri is not supported in Gemini"),
    ],
)
def test_invalid_requests_name_the_field(
    emulator: EmulatorServer, emu_http: httpx.Client, params: dict[str, Any], instance: dict[str, Any], message: str
) -> None:
    r = emu_http.post(f"/v1beta/models/{MODEL}:predictLongRunning", headers=KEY, json=body(instance=instance, **params))
    assert message in rpc_error(r, 400, "INVALID_ARGUMENT")["message"]
    assert emulator.stats()["submits_total"] == 0


def test_seed_and_generate_audio_true_are_accepted(emu_http: httpx.Client) -> None:
    name = submit(emu_http, body("[emulate:filtered] seeded", seed=1234, generateAudio=True, negativePrompt="rain"))
    assert wait_done(emu_http, name)["done"]


def test_unknown_and_retired_models(make_emulator: Any, emu_http: httpx.Client) -> None:
    lite = "veo-3.1-lite-generate-001"  # a Vertex-only model: the SDK's own test expects this 404
    r = emu_http.post(f"/v1beta/models/{lite}:predictLongRunning", headers=KEY, json=body())
    assert rpc_error(r, 404, "NOT_FOUND")["message"].startswith(
        f"models/{lite} is not found for API version v1beta, or is not supported for predictLongRunning."
    )

    today = make_emulator(as_of=dt.date(2026, 11, 21))  # after the 2026-10-22 shutdown
    with httpx.Client(base_url=today.base_url) as http:
        r = http.post(f"/v1beta/models/{MODEL}:predictLongRunning", headers=KEY, json=body())
    msg = rpc_error(r, 404, "NOT_FOUND")["message"]
    assert msg.startswith(f"models/{MODEL} is no longer available.")
    assert "veo-3.1-generate-001" in msg and "2026-10-22" in msg


@pytest.mark.parametrize(
    ("headers", "params", "http_status", "status", "reason"),
    [
        ({}, None, 403, "PERMISSION_DENIED", None),
        ({"x-goog-api-key": "wrong-key-xyz"}, None, 400, "INVALID_ARGUMENT", "API_KEY_INVALID"),
        ({}, {"key": "wrong-key-xyz"}, 400, "INVALID_ARGUMENT", "API_KEY_INVALID"),
        ({"Authorization": "Bearer test-token"}, None, 403, "PERMISSION_DENIED", None),
    ],
)
def test_auth_failures(
    emu_http: httpx.Client,
    headers: dict[str, str],
    params: dict[str, str] | None,
    http_status: int,
    status: str,
    reason: str | None,
) -> None:
    r = emu_http.post(f"/v1beta/models/{MODEL}:predictLongRunning", headers=headers, params=params, json=body())
    err = rpc_error(r, http_status, status)
    if reason:
        assert err["message"] == "API key not valid. Please pass a valid API key."
        assert err["details"] == [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    assert "wrong-key-xyz" not in r.text


def test_polls_need_the_key_and_the_right_model(emu_http: httpx.Client) -> None:
    name = submit(emu_http, body("[emulate:filtered] p"))
    rpc_error(emu_http.get(f"/v1beta/{name}"), 403, "PERMISSION_DENIED")
    other = name.replace(MODEL, "veo-3.1-fast-generate-preview")
    rpc_error(emu_http.get(f"/v1beta/{other}", headers=KEY), 404, "NOT_FOUND")


def test_stats_per_key_and_download_faults(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    submit(emu_http, body("[emulate:filtered] a"), headers={"x-goog-api-key": "second-key"})
    [uri] = samples(wait_done(emu_http, submit(emu_http, body())))
    emu_http.post(
        "/_emulator/faults",
        json=[
            {"route": "download", "fault": {"kind": "http", "status": 429}},
            {"route": "download", "fault": {"kind": "truncate", "after_bytes": 10}},
        ],
    )
    rpc_error(emu_http.get(uri, headers=KEY), 429, "RESOURCE_EXHAUSTED")  # fires at the keyed request
    location = emu_http.get(uri, headers=KEY).headers["location"]  # truncation waits for the body
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(location)
    assert len(httpx.get(location).content) > 10
    stats = emulator.stats()
    assert stats["downloads"] == 2  # the truncated attempt and the whole one; the 429 never reached the bytes
    sha = {k: hashlib.sha256(k.encode()).hexdigest()[:10] for k in ("test-key", "second-key")}
    assert stats["submits"] == {f"key:{sha['test-key']}": {MODEL: 1}, f"key:{sha['second-key']}": {MODEL: 1}}
    assert "test-key" not in json.dumps(stats) and "second-key" not in json.dumps(stats)
