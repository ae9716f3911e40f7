"""Contract: an emulator with ``state_dir`` keeps what it accepted across a restart.

Each test stops one emulator and starts another on the same directory (a new process would see the same files),
then polls the same operation or task: it answers as the first would have, the video arrives, and the submit
counters say nothing was submitted again. Time is moved with the emulator clock, never waited for.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import probe_mp4

VERTEX = "veo-3.1-fast-generate-001"
BEARER = {"Authorization": "Bearer test-token"}
KEY = {"x-goog-api-key": "test-key"}
LATENCY_S = 3600.0  # nothing finishes until a test moves the clock (however slow the machine)


@pytest.fixture
def start(emulator_config: EmulatorConfig, tmp_path: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start an emulator on ``tmp_path/state`` (the same directory every time it is called)."""
    running: list[EmulatorServer] = []

    def go(**overrides: Any) -> EmulatorServer:
        cfg = replace(emulator_config, latency_s=LATENCY_S, storage_dir=None, state_dir=tmp_path / "state", **overrides)
        emu = EmulatorServer(cfg).start()
        running.append(emu)
        return emu

    yield go
    for emu in running:
        emu.stop()


def vertex_path(model: str = VERTEX, method: str = "predictLongRunning") -> str:
    return f"/v1/projects/p/locations/us-central1/publishers/google/models/{model}:{method}"


def vertex_submit(emu: EmulatorServer, prompt: str = "a lighthouse at dusk", **params: Any) -> str:
    body = {"instances": [{"prompt": prompt}], "parameters": {"durationSeconds": 4, **params}}
    r = httpx.post(emu.base_url + vertex_path(), json=body, headers=BEARER)
    assert r.status_code == 200, r.text
    name: str = r.json()["name"]
    return name


def vertex_poll(emu: EmulatorServer, name: str) -> dict[str, Any]:
    r = httpx.post(
        emu.base_url + vertex_path(method="fetchPredictOperation"), json={"operationName": name}, headers=BEARER
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def until_done(poll: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll until done; the clock has already passed the latency, so only the render can still be running."""
    deadline = time.monotonic() + 60
    while not done(doc := poll()):
        assert time.monotonic() < deadline, doc
        time.sleep(0.05)
    return doc


def test_a_running_vertex_operation_finishes_after_a_restart(
    start: Callable[..., EmulatorServer], tmp_path: Path
) -> None:
    first = start()
    name = vertex_submit(first)
    assert "done" not in vertex_poll(first, name)
    first.stop()  # interrupted mid-flight

    second = start()
    assert "done" not in vertex_poll(second, name)  # the same operation, still running on the restored clock
    second.state.clock.advance(LATENCY_S)
    op = until_done(lambda: vertex_poll(second, name), lambda d: bool(d.get("done")))
    video = base64.b64decode(op["response"]["videos"][0]["bytesBase64Encoded"])
    (tmp_path / "v.mp4").write_bytes(video)
    info = probe_mp4(tmp_path / "v.mp4")
    assert (info.width, info.height, round(info.duration_s)) == (1280, 720, 4)
    stats = second.stats()
    assert stats["submits_total"] == 1 and stats["submits"] == {next(iter(stats["submits"])): {VERTEX: 1}}
    assert stats["operations"] == 1


def test_finished_results_and_the_clock_survive(start: Callable[..., EmulatorServer]) -> None:
    first = start()
    name = vertex_submit(first, storageUri="gs://kept/out")
    first.state.clock.advance(LATENCY_S)
    done = until_done(lambda: vertex_poll(first, name), lambda d: bool(d.get("done")))
    uri = done["response"]["videos"][0]["gcsUri"]
    first.stop()

    second = start()
    assert second.state.clock.offset_s >= LATENCY_S  # the advanced clock came back with the records
    assert vertex_poll(second, name) == done  # fixed on first observation, the same after a restart
    obj = uri.removeprefix("gs://kept/").replace("/", "%2F")
    r = httpx.get(f"{second.base_url}/storage/v1/b/kept/o/{obj}", params={"alt": "media"}, headers=BEARER)
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"


def test_gemini_files_keep_their_ids_and_retention(start: Callable[..., EmulatorServer]) -> None:
    first = start()
    r = httpx.post(
        first.base_url + "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
        json={"instances": [{"prompt": "paper boats"}], "parameters": {"durationSeconds": 4}},
        headers=KEY,
    )
    name = r.json()["name"]
    first.state.clock.advance(LATENCY_S)
    op = until_done(lambda: httpx.get(f"{first.base_url}/v1beta/{name}", headers=KEY).json(), lambda d: "done" in d)
    path = op["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"].split("/v1beta/")[1]
    first.stop()

    second = start()
    got = httpx.get(f"{second.base_url}/v1beta/{path}", headers=KEY, follow_redirects=True)
    assert got.status_code == 200 and got.content[4:8] == b"ftyp"
    second.state.clock.advance(2 * 86400)  # past the 2-day retention, counted from when it was made
    assert httpx.get(f"{second.base_url}/v1beta/{path}", headers=KEY).status_code == 404


def test_issued_oauth_tokens_stay_valid(start: Callable[..., EmulatorServer]) -> None:
    first = start()
    grant = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s", "refresh_token": "r"}
    token = httpx.post(first.base_url + "/token", data=grant).json()["access_token"]
    first.stop()
    second = start()
    body = {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 4}}
    r = httpx.post(second.base_url + vertex_path(), json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def test_kie_task_and_credits_survive(start: Callable[..., EmulatorServer]) -> None:
    auth = {"Authorization": "Bearer test-kie-key"}
    first = start()
    task_id = httpx.post(first.base_url + "/api/v1/veo/generate", json={"prompt": "a fox"}, headers=auth).json()[
        "data"
    ]["taskId"]
    balance = httpx.get(first.base_url + "/api/v1/chat/credit", headers=auth).json()["data"]
    first.stop()

    second = start()
    assert httpx.get(second.base_url + "/api/v1/chat/credit", headers=auth).json()["data"] == balance
    info = second.base_url + "/api/v1/veo/record-info"
    assert httpx.get(info, params={"taskId": task_id}, headers=auth).json()["data"]["successFlag"] == 0
    second.state.clock.advance(LATENCY_S)
    data = until_done(
        lambda: httpx.get(info, params={"taskId": task_id}, headers=auth).json()["data"],
        lambda d: d["successFlag"] != 0,
    )
    assert data["successFlag"] == 1
    url = data["response"]["resultUrls"][0]
    assert httpx.get(url).content[4:8] == b"ftyp"
    second.stop()

    third = start()  # the finished task, its temporary URL and the balance, all as they were
    again = httpx.get(third.base_url + "/api/v1/veo/record-info", params={"taskId": task_id}, headers=auth).json()[
        "data"
    ]
    assert again["response"]["resultUrls"] == [url.replace(second.base_url, third.base_url)]
    assert httpx.get(again["response"]["resultUrls"][0]).content[4:8] == b"ftyp"
    assert httpx.get(third.base_url + "/api/v1/chat/credit", headers=auth).json()["data"] == balance
    assert third.stats()["submits_total"] == 1


@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_fal_and_replicate_requests_finish_after_a_restart(start: Callable[..., EmulatorServer], provider: str) -> None:
    first = start()
    if provider == "fal":
        auth = {"Authorization": "Key test-fal-key"}
        rid = httpx.post(
            first.base_url + "/fal-ai/veo3.1/fast", json={"prompt": "a fox", "duration": "4s"}, headers=auth
        ).json()["request_id"]

        def result(emu: EmulatorServer) -> httpx.Response:
            return httpx.get(f"{emu.base_url}/fal-ai/veo3.1/requests/{rid}", headers=auth)

        def url_of(r: httpx.Response) -> str:
            return str(r.json()["video"]["url"])
    else:
        auth = {"Authorization": "Bearer test-replicate-token"}
        rid = httpx.post(
            first.base_url + "/v1/models/google/veo-3.1-fast/predictions",
            json={"input": {"prompt": "a fox", "duration": 4, "resolution": "720p"}},
            headers=auth,
        ).json()["id"]

        def result(emu: EmulatorServer) -> httpx.Response:
            return httpx.get(f"{emu.base_url}/v1/predictions/{rid}", headers=auth)

        def url_of(r: httpx.Response) -> str:
            return str(r.json()["output"])

    first.stop()
    second = start()
    second.state.clock.advance(LATENCY_S)
    r = until_done(
        lambda: {"r": result(second)},
        lambda d: d["r"].status_code == 200 and (provider == "fal" or d["r"].json()["status"] == "succeeded"),
    )["r"]
    assert httpx.get(url_of(r)).content[4:8] == b"ftyp"
    assert second.stats()["submits_total"] == 1


def test_omni_interactions_finish_after_a_restart(start: Callable[..., EmulatorServer]) -> None:
    def create(emu: EmulatorServer, delivery: str) -> str:
        body = {
            "model": "gemini-omni-1.2-flash",
            "background": True,
            "input": "a paper boat on a canal",
            "response_format": {"type": "video", "resolution": "360p", "duration": "3s", "delivery": delivery},
        }
        r = httpx.post(emu.base_url + "/v1/interactions", json=body, headers=KEY)
        assert r.status_code == 200, r.text
        ident: str = r.json()["id"]
        return ident

    def get(emu: EmulatorServer, ident: str) -> dict[str, Any]:
        r = httpx.get(f"{emu.base_url}/v1/interactions/{ident}", headers=KEY)
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc

    def finished(d: dict[str, Any]) -> bool:
        return d["status"] != "in_progress"

    first = start()
    done_before = create(first, "inline")
    running = create(first, "uri")
    first.state.clock.advance(LATENCY_S)
    finished_doc = until_done(lambda: get(first, done_before), finished)
    first.stop()  # `running` was never observed done: its result is not fixed yet

    second = start()
    assert get(second, done_before) == finished_doc  # fixed on first observation, the same after a restart
    doc = until_done(lambda: get(second, running), finished)
    assert doc["status"] == "completed" and doc["usage"]["output_tokens_by_modality"][0]["tokens"] == 3 * 1931
    [out] = [s for s in doc["steps"] if s["type"] == "model_output"]
    video = httpx.get(out["content"][0]["uri"], headers=KEY, follow_redirects=True)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert second.stats()["submits_total"] == 2  # both were submitted once, before the restart


def test_reset_forgets_the_persisted_state(start: Callable[..., EmulatorServer]) -> None:
    first = start()
    name = vertex_submit(first)
    httpx.post(first.base_url + "/_emulator/reset")
    first.stop()
    second = start()
    r = httpx.post(
        second.base_url + vertex_path(method="fetchPredictOperation"), json={"operationName": name}, headers=BEARER
    )
    assert r.status_code == 404
    assert second.stats()["submits_total"] == 0


def test_without_state_dir_nothing_is_written(emulator_config: EmulatorConfig, tmp_path: Path) -> None:
    cfg = replace(emulator_config, storage_dir=tmp_path / "renders", state_dir=None)
    with EmulatorServer(cfg) as emu:
        vertex_submit(emu)
    assert not (tmp_path / "renders" / "journal").exists()


def test_finished_work_past_retention_is_pruned_at_start(start: Callable[..., EmulatorServer], tmp_path: Path) -> None:
    first = start()
    old = vertex_submit(first, prompt="an old lighthouse")
    first.state.clock.advance(LATENCY_S)
    until_done(lambda: vertex_poll(first, old), lambda d: bool(d.get("done")))
    finished = next(op for op in first.state.operations.values() if op.name == old)
    assert finished.result is not None
    render = finished.result.videos[0].file.path
    first.state.clock.advance(2 * 86400 + 1)  # the old operation is now past the 2-day retention
    running = vertex_submit(first, prompt="a new lighthouse")  # written with the advanced clock
    first.stop()
    records = tmp_path / "state" / "journal" / "operations"
    assert len(list(records.glob("*.json"))) == 2 and render.is_file()

    second = start()
    assert len(list(records.glob("*.json"))) == 1  # the old record is gone from disk …
    assert not render.exists()  # … with the render only it named
    assert "done" not in vertex_poll(second, running)  # work still in flight is kept
    r = httpx.post(
        second.base_url + vertex_path(method="fetchPredictOperation"), json={"operationName": old}, headers=BEARER
    )
    assert r.status_code == 404
