"""Contract: the emulator speaks the Interactions API for Gemini Omni, on the Gemini API and on Vertex, over real
loopback HTTP with raw httpx: background interactions, polling, inline and URI results, usage, errors, faults."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from veokit.emulator import EmulatorServer
from veokit.media.probe import first_frame_rgb, probe_mp4

MODEL = "gemini-omni-1.2-flash"
KEY = {"x-goog-api-key": "test-key"}
BEARER = {"Authorization": "Bearer test-token"}
PROJECT = "/v1beta1/projects/proj-1/locations/us-central1/interactions"
SMALL = {"type": "video", "resolution": "360p", "duration": "3s"}  # cheap renders


def create(
    http: httpx.Client,
    *content: dict[str, Any],
    path: str = "/v1/interactions",
    headers: dict[str, str] = KEY,
    prompt: str = "a paper boat on a canal",
    fmt: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "background": True,
        "input": [{"type": "user_input", "content": [{"type": "text", "text": prompt}, *content]}],
        "response_format": {**SMALL, **(fmt or {})},
        **extra,
    }
    r = http.post(path, json=body, headers=headers)
    assert r.status_code == 200, r.text[:500]
    doc: dict[str, Any] = r.json()
    assert doc["status"] == "in_progress" and doc["id"].startswith("v1_")
    return doc


def wait(http: httpx.Client, ident: str, *, path: str = "/v1/interactions", headers: dict[str, str] = KEY) -> dict:
    deadline = time.monotonic() + 60
    while True:
        r = http.get(f"{path}/{ident}", headers=headers, params={"stream": "false"})
        assert r.status_code == 200, r.text[:500]
        doc: dict[str, Any] = r.json()
        if doc["status"] != "in_progress":
            return doc
        assert time.monotonic() < deadline, f"{ident} still running"
        time.sleep(0.05)


def video_block(doc: dict[str, Any]) -> dict[str, Any]:
    [out] = [s for s in doc["steps"] if s["type"] == "model_output"]
    [block] = out["content"]
    assert block["type"] == "video" and block["mime_type"] == "video/mp4"
    return dict(block)


def interactions_error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text[:500]
    err = r.json()["error"]
    assert err["code"] == code, err
    return str(err["message"])


def png(color: tuple[int, int, int]) -> dict[str, str]:
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), color).save(buf, "PNG")
    return {"type": "image", "data": base64.b64encode(buf.getvalue()).decode(), "mime_type": "image/png"}


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_inline_video_usage_and_the_resource(
    emulator: EmulatorServer, emu_http: httpx.Client, tmp_path: Path, version: str
) -> None:
    path = f"/{version}/interactions"
    first = create(
        emu_http, path=path, fmt={"aspect_ratio": "9:16", "delivery": "inline"}, generation_config={"seed": 3}
    )
    doc = wait(emu_http, first["id"], path=path)
    assert (doc["id"], doc["object"], doc["model"], doc["status"]) == (first["id"], "interaction", MODEL, "completed")
    assert doc["response_format"]["aspect_ratio"] == "9:16" and doc["generation_config"] == {"seed": 3}
    assert [s["type"] for s in doc["steps"]] == ["user_input", "thought", "model_output"]
    (tmp_path / "v.mp4").write_bytes(base64.b64decode(video_block(doc)["data"]))
    info = probe_mp4(tmp_path / "v.mp4")
    assert (info.width, info.height, info.audio_codec) == (360, 640, "aac")
    assert info.duration_s == pytest.approx(3, abs=0.1)
    usage = doc["usage"]
    assert usage["output_tokens_by_modality"] == [{"modality": "video", "tokens": 3 * 1931}]  # catalog: 360p
    assert usage["input_tokens_by_modality"] == [{"modality": "text", "tokens": 6}]  # 23 characters / 4
    assert usage["total_tokens"] == usage["total_input_tokens"] + 3 * 1931 + usage["total_thought_tokens"]
    assert emulator.stats()["submits"] == {"key:62af870476": {MODEL: 1}} and emulator.stats()["polls"] >= 1


def test_uri_results_need_the_key_and_expire(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    doc = wait(emu_http, create(emu_http, fmt={"delivery": "uri"})["id"])
    uri = video_block(doc)["uri"]
    assert uri.startswith(f"{emulator.base_url}/v1beta/files/") and uri.endswith(":download?alt=media")
    assert emu_http.get(uri).status_code == 403
    assert emu_http.get(uri, headers=KEY, follow_redirects=True).content[4:8] == b"ftyp"
    emulator.state.clock.advance(2 * 86400 + 1)
    assert emu_http.get(uri, headers=KEY).status_code == 404  # the Files API keeps results for 2 days


def test_vertex_project_and_express_mode(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    inline = wait(emu_http, create(emu_http, path=PROJECT, headers=BEARER)["id"], path=PROJECT, headers=BEARER)
    assert "data" in video_block(inline)  # Vertex's default: inline
    to_gcs = create(emu_http, path=PROJECT, headers=BEARER, fmt={"delivery": "uri", "gcs_uri": "gs://bkt/out"})
    uri = video_block(wait(emu_http, to_gcs["id"], path=PROJECT, headers=BEARER))["uri"]
    assert uri == f"gs://bkt/out/{to_gcs['id']}/sample_0.mp4"
    media = emu_http.get(f"/storage/v1/b/bkt/o/out%2F{to_gcs['id']}%2Fsample_0.mp4?alt=media", headers=BEARER)
    assert media.status_code == 200 and media.content[4:8] == b"ftyp"
    express = create(emu_http, path="/v1beta1/interactions")
    assert wait(emu_http, express["id"], path="/v1beta1/interactions")["status"] == "completed"
    # An interaction is read where it was made: not through another project, nor the Gemini API.
    other = emu_http.get(f"/v1beta1/projects/other/locations/us-central1/interactions/{to_gcs['id']}", headers=BEARER)
    interactions_error(other, 404, "not_found")
    interactions_error(emu_http.get(f"/v1/interactions/{express['id']}", headers=KEY), 404, "not_found")
    missing = emu_http.post(PROJECT, json={"model": MODEL, "background": True, "input": "x"})
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"  # google.rpc


@pytest.mark.parametrize(
    ("change", "status", "code", "needle"),
    [
        ({"temperature_x": 1}, 400, "parameter_unknown", "temperature_x"),
        ({"background": False}, 400, "invalid_request", "background"),
        ({"response_format": {"type": "video", "duration": "8"}}, 400, "invalid_request", '"8s"'),
        ({"response_format": {"type": "video", "resolution": "480p"}}, 400, "invalid_request", "360p, 720p"),
        ({"response_format": {"type": "video", "duration": "16s"}}, 400, "invalid_request", "15s"),
        ({"response_format": {"type": "video", "gcs_uri": "gs://b/x"}}, 400, "invalid_request", "gcs_uri"),
        ({"generation_config": {"seed": -1}}, 400, "invalid_request", "seed"),
        ({"generation_config": {"video_config": {"task": "paint"}}}, 400, "invalid_request", "text_to_video"),
        ({"model": "gemini-omni-9-flash"}, 404, "model_not_found", "gemini-omni-9-flash"),
        ({"model": "gemini-omni-flash-preview"}, 404, "model_not_found", "no longer available"),
        ({"model": "veo-3.1-generate-001"}, 404, "model_not_found", "veo"),
        ({"previous_interaction_id": "v1_nope"}, 404, "not_found", "v1_nope"),
        (
            {
                "input": [{"type": "text", "text": "x"}, png((1, 2, 3)), png((1, 2, 3)), png((1, 2, 3))],
                "generation_config": {"video_config": {"task": "image_to_video"}},
            },
            400,
            "invalid_request",
            "1 or 2 images",
        ),
        (
            {
                "input": [{"type": "text", "text": "x"}, png((1, 2, 3))],
                "generation_config": {"video_config": {"task": "text_to_video"}},
            },
            400,
            "invalid_request",
            "text_to_video takes",
        ),
        ({"input": [{"type": "image", "data": "bm90IGFuIGltYWdl"}]}, 400, "invalid_request", "image"),
        ({"input": [{"type": "audio", "data": "AAAA"}]}, 400, "invalid_request", "audio"),
    ],
)
def test_bad_requests_name_the_field_in_the_interactions_shape(
    emulator: EmulatorServer, emu_http: httpx.Client, change: dict[str, Any], status: int, code: str, needle: str
) -> None:
    body: dict[str, Any] = {"model": MODEL, "background": True, "input": "a fox", "response_format": SMALL}
    body.update(change)
    assert needle in interactions_error(emu_http.post("/v1/interactions", json=body, headers=KEY), status, code)
    assert emulator.stats()["submits_total"] == 0


def test_credentials_are_checked_by_googles_front_end(emu_http: httpx.Client) -> None:
    body = {"model": MODEL, "background": True, "input": "a fox"}
    no_key = emu_http.post("/v1/interactions", json=body)
    assert no_key.status_code == 403 and no_key.json()["error"]["status"] == "PERMISSION_DENIED"
    bad_key = emu_http.post("/v1/interactions", json=body, headers={"x-goog-api-key": "nope"})
    assert bad_key.status_code == 400 and bad_key.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_blocked_and_failed_interactions(emu_http: httpx.Client) -> None:
    blocked = wait(emu_http, create(emu_http, prompt="a fox [emulate:filtered]")["id"])
    assert blocked["status"] == "failed" and blocked["errors"][0]["code"] == "safety" and "usage" not in blocked
    failed = wait(emu_http, create(emu_http, prompt="a fox [emulate:failed]")["id"])
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == "api_error"
    assert not [s for s in failed["steps"] if s["type"] == "model_output"]


def test_first_and_last_frames_start_the_video(emu_http: httpx.Client, tmp_path: Path) -> None:
    red, blue = png((200, 30, 40)), png((30, 40, 200))
    doc = wait(
        emu_http,
        create(emu_http, red, blue, generation_config={"video_config": {"task": "image_to_video"}})["id"],
    )
    (tmp_path / "f.mp4").write_bytes(base64.b64decode(video_block(doc)["data"]))
    frame = first_frame_rgb(tmp_path / "f.mp4").astype(float)
    assert np.abs(frame - np.array([200, 30, 40])).mean() < 12
    assert [b.get("data") for b in doc["steps"][0]["content"]] == [None, None, None]  # inputs echoed without bytes
    long = emu_http.post(
        "/v1/interactions",
        json={
            "model": MODEL,
            "background": True,
            "input": [{"type": "text", "text": "x"}, red, blue],
            "response_format": {"type": "video", "duration": "12s"},
        },
        headers=KEY,
    )
    assert "first last frame allows at most 10s" in interactions_error(long, 400, "invalid_request")


def test_extension_by_interaction_by_file_and_by_bytes(emu_http: httpx.Client, tmp_path: Path) -> None:
    first = wait(emu_http, create(emu_http, fmt={"delivery": "uri"})["id"])
    by_id = create(emu_http, prompt="the boat sails on", previous_interaction_id=first["id"])
    done = wait(emu_http, by_id["id"])
    assert done["previous_interaction_id"] == first["id"]
    (tmp_path / "e.mp4").write_bytes(base64.b64decode(video_block(done)["data"]))
    assert probe_mp4(tmp_path / "e.mp4").duration_s == pytest.approx(3 + 3, abs=0.1)  # the tail + 3 s more
    assert {"modality": "video", "tokens": 3 * 5792} in done["usage"]["input_tokens_by_modality"]  # 3 s of context
    uri = video_block(first)["uri"]
    by_file = wait(emu_http, create(emu_http, {"type": "video", "uri": uri, "mime_type": "video/mp4"})["id"])
    assert by_file["status"] == "completed"
    data = base64.b64encode((tmp_path / "e.mp4").read_bytes()).decode()
    by_bytes = wait(emu_http, create(emu_http, {"type": "video", "data": data, "mime_type": "video/mp4"})["id"])
    (tmp_path / "b.mp4").write_bytes(base64.b64decode(video_block(by_bytes)["data"]))
    assert probe_mp4(tmp_path / "b.mp4").duration_s == pytest.approx(6 + 3, abs=0.1)
    other_key = emu_http.post(
        "/v1/interactions",
        json={"model": MODEL, "background": True, "input": "more", "previous_interaction_id": first["id"]},
        headers={"x-goog-api-key": "second-key"},
    )
    interactions_error(other_key, 404, "not_found")  # another project's interaction is not there


def test_latency_runs_on_the_emulator_clock_and_cancel(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    emulator.state.set_latency(3600)
    slow = create(emu_http)
    assert emu_http.get(f"/v1/interactions/{slow['id']}", headers=KEY).json()["status"] == "in_progress"
    gone = create(emu_http)
    cancelled = emu_http.post(f"/v1/interactions/{gone['id']}/cancel", headers=KEY)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    emu_http.post("/_emulator/clock", json={"advance_s": 3600})
    assert wait(emu_http, slow["id"])["status"] == "completed"
    again = emu_http.post(f"/v1/interactions/{slow['id']}/cancel", headers=KEY)
    interactions_error(again, 400, "failed_precondition")


def test_faults_quota_and_their_shapes(emulator: EmulatorServer, emu_http: httpx.Client, make_emulator: Any) -> None:
    rules = [
        {"route": "submit", "model": MODEL, "fault": {"kind": "http", "status": 503}},
        {"route": "submit", "model": MODEL, "fault": {"kind": "outcome", "outcome": "filtered"}},
        {"route": "poll", "model": MODEL, "fault": {"kind": "http", "status": 429, "headers": {"Retry-After": "2"}}},
    ]
    assert emu_http.post("/_emulator/faults", json=rules).status_code == 200
    body = {"model": MODEL, "background": True, "input": "a fox", "response_format": SMALL}
    refused = emu_http.post("/v1/interactions", json=body, headers=KEY)
    interactions_error(refused, 503, "service_unavailable")
    accepted = create(emu_http)
    throttled = emu_http.get(f"/v1/interactions/{accepted['id']}", headers=KEY)
    interactions_error(throttled, 429, "rate_limit_exceeded")
    assert throttled.headers["retry-after"] == "2"
    assert wait(emu_http, accepted["id"])["errors"][0]["code"] == "safety"  # the scripted outcome
    assert emulator.stats()["submits_total"] == 1 and emulator.stats()["faults_fired"] == 3

    emu_http.post("/_emulator/faults", json=[{"route": "poll", "fault": {"kind": "truncate", "after_bytes": 100}}])
    done = create(emu_http, fmt={"delivery": "inline"})
    emulator.state.clock.advance(1)
    with pytest.raises(httpx.RemoteProtocolError):
        emu_http.get(f"/v1/interactions/{done['id']}", headers=KEY)

    quota = make_emulator(quota_requests=1)
    with httpx.Client(base_url=quota.base_url) as http:
        create(http)
        limited = http.post("/v1/interactions", json=body, headers=KEY)
        interactions_error(limited, 429, "rate_limit_exceeded")
        assert limited.json()["error"]["details"][-1]["@type"].endswith("RetryInfo")


def test_models_get_for_the_doctor(emu_http: httpx.Client) -> None:
    omni = emu_http.get(f"/v1/models/{MODEL}", headers=KEY)
    assert omni.status_code == 200 and omni.json()["name"] == f"models/{MODEL}"
    assert emu_http.get("/v1/models/gemini-omni-flash-preview", headers=KEY).status_code == 404  # retired
    vertex = emu_http.get(f"/v1beta1/publishers/google/models/{MODEL}", headers=BEARER)
    assert vertex.status_code == 200 and vertex.json()["launchStage"] == "GA"
    veo = emu_http.get("/v1/publishers/google/models/veo-3.1-generate-001", headers=BEARER)
    assert veo.status_code == 200 and veo.json()["name"] == "publishers/google/models/veo-3.1-generate-001"


def test_an_operation_hold_keeps_an_interaction_running_until_released(
    emulator: EmulatorServer, emu_http: httpx.Client
) -> None:
    hold = emulator.state.holds.add("operation", model=MODEL, prompt="held boat")
    held = create(emu_http, prompt="a held boat", fmt={"delivery": "inline"})
    free = create(emu_http, prompt="a free boat", fmt={"delivery": "inline"})
    # The hold matches on the prompt; the held one was created first, so its latency has passed too.
    assert wait(emu_http, free["id"])["status"] == "completed"
    r = emu_http.get(f"/v1/interactions/{held['id']}", headers=KEY)
    assert r.json()["status"] == "in_progress" and held["id"] in hold.held
    emulator.state.holds.release(hold.id)
    assert wait(emu_http, held["id"])["status"] == "completed"
