"""Contract: the emulator speaks fal.ai's queue API (submit, status, result, cancel; Key auth; fal's 422 shape)
over real loopback HTTP with raw httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit.emulator import EmulatorServer
from veokit.emulator.task_media import credential_id
from veokit.media.probe import probe_mp4

KEY = "test-fal-key"
AUTH = {"Authorization": f"Key {KEY}"}
PROMPT = "a red fox trotting through snow"
APP = "fal-ai/veo3.1"


def submit(http: httpx.Client, endpoint: str = "fal-ai/veo3.1/fast", **inp: Any) -> dict[str, Any]:
    r = http.post(f"/{endpoint}", json={"prompt": PROMPT, "duration": "4s", "seed": 7, **inp}, headers=AUTH)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def wait(http: httpx.Client, request_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        r = http.get(f"/{APP}/requests/{request_id}/status", headers=AUTH)
        doc: dict[str, Any] = r.json()
        seen.add((r.status_code, doc["status"]))
        if doc["status"] == "COMPLETED":
            doc["_seen"] = seen
            return doc
        time.sleep(0.03)
    raise AssertionError("request did not complete")


def test_auth_unknown_app_and_validation(emu_http: httpx.Client, emulator: EmulatorServer) -> None:
    assert emu_http.post("/fal-ai/veo3.1", json={"prompt": "x"}).status_code == 401
    assert (
        emu_http.post("/fal-ai/veo3.1", json={"prompt": "x"}, headers={"Authorization": "Key wrong"}).status_code == 401
    )
    assert (
        emu_http.post("/fal-ai/veo3.1/fast/reference-to-video", json={"prompt": "x"}, headers=AUTH).status_code == 404
    )  # no reference endpoint on the Fast tier
    r = emu_http.post("/fal-ai/veo3.1", json={"prompt": "x", "duration": "5s"}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "duration"]
    r = emu_http.post(
        "/fal-ai/veo3.1/image-to-video", json={"prompt": "x", "image_url": "https://nowhere.invalid/a"}, headers=AUTH
    )
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "file_download_error"
    assert emulator.stats()["submits_total"] == 0


def test_queue_lifecycle_result_and_stats(emu_http: httpx.Client, emulator: EmulatorServer, tmp_path: Path) -> None:
    queued = submit(emu_http, generate_audio=False, aspect_ratio="9:16")
    rid = queued["request_id"]
    assert queued["status_url"].endswith(f"/{APP}/requests/{rid}/status")  # under the app, not the endpoint
    early = emu_http.get(f"/{APP}/requests/{rid}", headers=AUTH)
    assert early.status_code == 400
    done = wait(emu_http, rid)
    assert queued["status"] == "IN_QUEUE" and "error" not in done
    assert {(202, "IN_QUEUE"), (202, "IN_PROGRESS"), (200, "COMPLETED")} >= done["_seen"]
    result = emu_http.get(f"/{APP}/requests/{rid}", headers=AUTH).json()
    url = result["video"]["url"]
    path = tmp_path / "v.mp4"
    path.write_bytes(emu_http.get(url).content)
    info = probe_mp4(path)
    assert (info.width, info.height, round(info.duration_s), info.audio_codec) == (720, 1280, 4, None)
    st = emulator.stats()
    assert st["submits"] == {credential_id("fal", KEY): {"fal-ai/veo3.1/fast": 1}}
    assert KEY not in json.dumps(st)


def test_requests_are_private_to_their_key(make_emulator: Callable[..., EmulatorServer]) -> None:
    emu = make_emulator(fal_keys=(KEY, "second-fal-key"))
    with httpx.Client(base_url=emu.base_url) as http:
        rid = submit(http, prompt="x [emulate:failed]")["request_id"]
        other = {"Authorization": "Key second-fal-key"}
        assert http.get(f"/{APP}/requests/{rid}/status", headers=other).status_code == 404
        assert http.get(f"/{APP}/requests/{rid}/status", headers=AUTH).status_code in (200, 202)


def test_filtered_failed_and_cancelled(emu_http: httpx.Client) -> None:
    blocked = submit(emu_http, prompt="x [emulate:filtered]")["request_id"]
    failed = submit(emu_http, prompt="x [emulate:failed]")["request_id"]
    slow = submit(emu_http, prompt="x [emulate:failed]")["request_id"]  # cancelled before it would fail
    r = emu_http.put(f"/{APP}/requests/{slow}/cancel", headers=AUTH)
    assert (r.status_code, r.json()["status"]) == (202, "CANCELLATION_REQUESTED")
    assert wait(emu_http, slow)["error_type"] == "request_cancelled"
    assert "error" not in wait(emu_http, blocked)  # a block shows on the result, as a 422
    r = emu_http.get(f"/{APP}/requests/{blocked}", headers=AUTH)
    assert r.status_code == 422
    violation = r.json()["detail"][0]
    assert (violation["type"], violation["msg"]) == (
        "content_policy_violation",
        "The content was flagged by a content checker.",
    )
    assert violation["loc"] == ["body", "prompt"] and violation["categories"] == ["model_moderated"]
    assert wait(emu_http, failed)["error"]
    assert emu_http.get(f"/{APP}/requests/{failed}", headers=AUTH).status_code == 500
    again = emu_http.put(f"/{APP}/requests/{failed}/cancel", headers=AUTH)
    assert (again.status_code, again.json()["status"]) == (400, "ALREADY_COMPLETED")


@pytest.mark.parametrize(
    ("endpoint", "inp", "field"),
    [
        ("fal-ai/veo3.1/extend-video", {"duration": "7s"}, "video_url"),
        ("fal-ai/veo3.1/first-last-frame-to-video", {}, "first_frame_url"),
        ("fal-ai/veo3.1/reference-to-video", {"image_urls": []}, "image_urls"),
        ("fal-ai/veo3.1", {"resolution": "8k"}, "resolution"),
    ],
)
def test_mode_inputs_are_required(emu_http: httpx.Client, endpoint: str, inp: dict[str, Any], field: str) -> None:
    r = emu_http.post(f"/{endpoint}", json={"prompt": "x", **inp}, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], r.text


def test_platform_api_lists_ended_requests_by_endpoint(emu_http: httpx.Client, emulator: EmulatorServer) -> None:
    """``GET /v1/models/requests/by-endpoint`` (fal's Platform API): requests that have ended, newest end first,
    with their input under ``expand=payloads``; one still running is not listed."""
    listing = "/v1/models/requests/by-endpoint"
    assert emu_http.get(listing, params={"endpoint_id": "fal-ai/veo3.1/fast"}).status_code == 401
    r = emu_http.get(listing, headers=AUTH)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "endpoint_id"]
    hold = emulator.state.holds.add("operation", prompt="still rendering")
    running = submit(emu_http, prompt="still rendering")
    older = submit(emu_http, seed=1)
    emulator.state.clock.advance(1)
    newer = submit(emu_http, seed=2)
    submit(emu_http, endpoint="fal-ai/veo3.1")  # another endpoint
    for done in (older, newer):
        wait(emu_http, done["request_id"])
    fast = {"endpoint_id": "fal-ai/veo3.1/fast", "expand": "payloads"}
    items = emu_http.get(listing, params=fast, headers=AUTH).json()["items"]
    assert [i["request_id"] for i in items] == [newer["request_id"], older["request_id"]]
    item = items[0]
    assert item["endpoint_id"] == "fal-ai/veo3.1/fast" and item["status_code"] == 200
    assert item["json_input"] == {"prompt": PROMPT, "duration": "4s", "seed": 2}
    assert item["sent_at"] <= item["started_at"] <= item["ended_at"] and item["json_output"]["video"]["url"]
    bare = emu_http.get(listing, params={"endpoint_id": "fal-ai/veo3.1/fast"}, headers=AUTH).json()
    assert "json_input" not in bare["items"][0]  # payloads only when asked for
    first = emu_http.get(listing, params={**fast, "limit": 1}, headers=AUTH).json()
    assert first["has_more"] and [i["request_id"] for i in first["items"]] == [newer["request_id"]]
    rest = emu_http.get(listing, params={**fast, "limit": 1, "cursor": first["next_cursor"]}, headers=AUTH).json()
    assert not rest["has_more"] and [i["request_id"] for i in rest["items"]] == [older["request_id"]]
    only = {**fast, "request_id": older["request_id"]}
    assert [i["request_id"] for i in emu_http.get(listing, params=only, headers=AUTH).json()["items"]] == [
        older["request_id"]
    ]
    later = {**fast, "start": "2999-01-01"}
    assert emu_http.get(listing, params=later, headers=AUTH).json()["items"] == []
    emulator.state.holds.release(hold.id)
    wait(emu_http, running["request_id"])
    assert len(emu_http.get(listing, params=fast, headers=AUTH).json()["items"]) == 3
