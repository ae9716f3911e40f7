"""Contract: the emulator speaks Kie.ai's Veo 3.1 API (body ``code`` errors on HTTP 200, credits, 1080p
upgrade, extension, uploads, temporary URLs), over real loopback HTTP with raw httpx."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from veokit.emulator import EmulatorServer
from veokit.emulator.task_media import credential_id
from veokit.media.probe import first_frame_rgb, probe_mp4

KEY = "test-kie-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
PROMPT = "a red fox trotting through snow"


def png(color: tuple[int, int, int] = (200, 30, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), color).save(buf, "PNG")  # as the provider tests use: the render is shared
    return buf.getvalue()


def generate(http: httpx.Client, **body: Any) -> str:
    r = http.post(
        "/api/v1/veo/generate", json={"prompt": PROMPT, "model": "veo3_fast", "seeds": 12345, **body}, headers=AUTH
    )
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    task_id: str = r.json()["data"]["taskId"]
    return task_id


def record(http: httpx.Client, task_id: str) -> dict[str, Any]:
    r = http.get("/api/v1/veo/record-info", params={"taskId": task_id}, headers=AUTH)
    assert r.status_code == 200 and r.json()["code"] == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def wait(http: httpx.Client, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = record(http, task_id)
        if data["successFlag"] != 0:
            return data
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def fetch(http: httpx.Client, url: str, tmp_path: Path, name: str = "v.mp4") -> Path:
    r = http.get(url)
    assert r.status_code == 200, r.text
    path = tmp_path / name
    path.write_bytes(r.content)
    return path


def test_wrong_or_missing_key_is_code_401_on_http_200(emu_http: httpx.Client, emulator: EmulatorServer) -> None:
    for headers in ({"Authorization": "Bearer nope"}, {}):
        for method, path in (
            ("POST", "/api/v1/veo/generate"),
            ("GET", "/api/v1/veo/record-info?taskId=x"),
            ("GET", "/api/v1/chat/credit"),
            ("POST", "/api/v1/veo/extend"),
        ):
            r = emu_http.request(method, path, json={"prompt": "x"}, headers=headers)
            assert (r.status_code, r.json()["code"]) == (200, 401), (method, path)
    assert emulator.stats()["submits_total"] == 0


def test_generate_record_download_and_stats(emu_http: httpx.Client, emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.state.set_latency(30)  # long, then skipped by advancing the clock: no race with the test
    task_id = generate(emu_http, aspect_ratio="16:9")
    assert record(emu_http, task_id)["successFlag"] == 0  # still generating
    emulator.state.clock.advance(30)
    data = wait(emu_http, task_id)
    assert data["successFlag"] == 1 and data["errorCode"] is None
    assert json.loads(data["paramJson"])["model"] == "veo3_fast"
    [url] = data["response"]["resultUrls"]
    assert "/_emulator/tmp/" in url and KEY not in url
    info = probe_mp4(fetch(emu_http, url, tmp_path))
    assert (info.width, info.height, round(info.duration_s)) == (1280, 720, 8)
    assert emu_http.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
    st = emulator.stats()
    assert st["submits"] == {credential_id("kie", KEY): {"veo3_fast": 1}}
    assert KEY not in json.dumps(st)


def test_old_field_spellings_are_accepted(emu_http: httpx.Client, tmp_path: Path) -> None:
    r = emu_http.post(
        "/api/v1/veo/generate",
        headers=AUTH,
        json={"prompt": PROMPT, "model": "veo3_fast", "aspectRatio": "9:16", "seed": 12345},
    )
    data = wait(emu_http, r.json()["data"]["taskId"])
    info = probe_mp4(fetch(emu_http, data["response"]["resultUrls"][0], tmp_path))
    assert (info.width, info.height) == (720, 1280)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"seeds": 5}, "seeds"),
        ({"model": "veo3", "generationType": "REFERENCE_2_VIDEO", "imageUrls": ["data:,"]}, "REFERENCE_2_VIDEO"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"model": "veo9"}, "not supported"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_invalid_input_is_code_422(emu_http: httpx.Client, body: dict[str, Any], needle: str) -> None:
    r = emu_http.post("/api/v1/veo/generate", json={"prompt": PROMPT, "model": "veo3_fast", **body}, headers=AUTH)
    assert r.status_code == 200 and r.json()["code"] == 422 and needle in r.json()["msg"]
    r = emu_http.get("/api/v1/veo/record-info", params={"taskId": "nope"}, headers=AUTH)
    assert r.json()["code"] == 422 and "record is null" in r.json()["msg"]


def test_credits_are_charged_refused_and_refunded(emu_http: httpx.Client, emulator: EmulatorServer) -> None:
    start = emu_http.get("/api/v1/chat/credit", headers=AUTH).json()["data"]
    generate(emu_http)
    assert emu_http.get("/api/v1/chat/credit", headers=AUTH).json()["data"] == start - 60
    blocked = generate(emu_http, prompt="x [emulate:filtered]")
    data = wait(emu_http, blocked)
    assert (data["successFlag"], data["errorCode"]) == (3, 400)
    # Kie's wording from its callback docs, not Google's reason text.
    assert data["errorMessage"] == "Your prompt was flagged by Website as violating content policies."
    assert emu_http.get("/api/v1/chat/credit", headers=AUTH).json()["data"] == start - 60  # refunded
    emulator.state.tasks.set_balance(credential_id("kie", KEY), 59)
    r = emu_http.post("/api/v1/veo/generate", json={"prompt": PROMPT}, headers=AUTH)
    assert (r.status_code, r.json()["code"]) == (200, 402)
    assert emulator.stats()["submits_total"] == 2


def test_failed_generation_and_unfetchable_image(emu_http: httpx.Client) -> None:
    failed = wait(emu_http, generate(emu_http, prompt="x [emulate:failed]"))
    assert (failed["successFlag"], failed["errorCode"]) == (3, 501)
    unreachable = wait(emu_http, generate(emu_http, imageUrls=["https://example.invalid/a.png"]))
    assert (unreachable["successFlag"], unreachable["errorCode"]) == (2, 451)


def test_1080p_is_processing_then_ready(emu_http: httpx.Client, emulator: EmulatorServer, tmp_path: Path) -> None:
    emulator.state.set_latency(30)  # long, then skipped by advancing the clock: no race with the test
    task_id = generate(emu_http, aspect_ratio="9:16")
    r = emu_http.get("/api/v1/veo/get-1080p-video", params={"taskId": task_id, "index": 0}, headers=AUTH)
    assert r.json()["code"] == 422  # not finished yet: nothing to upgrade
    emulator.state.clock.advance(30)
    wait(emu_http, task_id)
    before = emu_http.get("/api/v1/chat/credit", headers=AUTH).json()["data"]
    r = emu_http.get("/api/v1/veo/get-1080p-video", params={"taskId": task_id, "index": 0}, headers=AUTH)
    assert (r.status_code, r.json()["code"]) == (200, 400) and "processing" in r.json()["msg"]
    assert emu_http.get("/api/v1/chat/credit", headers=AUTH).json()["data"] == before - 5
    emulator.state.clock.advance(30)
    deadline = time.monotonic() + 30
    while (
        doc := emu_http.get("/api/v1/veo/get-1080p-video", params={"taskId": task_id, "index": 0}, headers=AUTH).json()
    )["code"] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    info = probe_mp4(fetch(emu_http, doc["data"]["resultUrl"], tmp_path))
    assert (info.width, info.height) == (1080, 1920)
    assert emu_http.get("/api/v1/chat/credit", headers=AUTH).json()["data"] == before - 5  # charged once


def test_upload_then_image_to_video(emu_http: httpx.Client) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png()).decode()
    r = emu_http.post(
        "/api/file-base64-upload",
        headers=AUTH,
        json={"base64Data": data_url, "uploadPath": "veokit", "fileName": "first.png"},
    )
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    url = r.json()["data"]["downloadUrl"]
    assert emu_http.get(url).content == png()
    assert emu_http.post("/api/file-base64-upload", json={"base64Data": data_url}).status_code == 401
    done = wait(emu_http, generate(emu_http, imageUrls=[url], generationType="FIRST_AND_LAST_FRAMES_2_VIDEO"))
    assert done["successFlag"] == 1


def test_extend_returns_a_new_task_with_the_full_video(emu_http: httpx.Client, tmp_path: Path) -> None:
    parent = generate(emu_http, aspect_ratio="9:16")  # the provider and CLI tests extend the same: one render
    wait(emu_http, parent)
    r = emu_http.post(
        "/api/v1/veo/extend", headers=AUTH, json={"taskId": parent, "prompt": "the fox keeps running", "model": "fast"}
    )
    assert r.json()["code"] == 200, r.text
    child = r.json()["data"]["taskId"]
    assert child != parent
    data = wait(emu_http, child)
    full = probe_mp4(fetch(emu_http, data["response"]["fullResultUrls"][0], tmp_path, "full.mp4"))
    part = probe_mp4(fetch(emu_http, data["response"]["resultUrls"][0], tmp_path, "part.mp4"))
    assert round(full.duration_s) == 15 and round(part.duration_s) == 7
    # The full video is the source followed by the new seconds.
    source = fetch(emu_http, wait(emu_http, parent)["response"]["resultUrls"][0], tmp_path, "source.mp4")
    pictures = [first_frame_rgb(tmp_path / "full.mp4"), first_frame_rgb(source)]
    assert np.abs(pictures[0].astype(np.float32) - pictures[1].astype(np.float32)).mean() < 3
    r = emu_http.post("/api/v1/veo/extend", headers=AUTH, json={"taskId": "nope", "prompt": "x"})
    assert r.json()["code"] == 422


def test_result_urls_expire(emu_http: httpx.Client, emulator: EmulatorServer) -> None:
    url = wait(emu_http, generate(emu_http))["response"]["resultUrls"][0]
    assert emu_http.head(url).status_code == 200
    emulator.state.clock.advance(emulator.config.result_url_ttl_s + 1)
    assert emu_http.get(url).status_code == 404
