"""Contract: the emulator speaks Replicate's predictions API (lifecycle, cancel, RFC 7807 errors, E005 safety
failures, the model's reference-image limits) over real loopback HTTP with raw httpx."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from veokit.emulator import EmulatorServer
from veokit.emulator.task_media import credential_id
from veokit.media.probe import probe_mp4

TOKEN = "test-replicate-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROMPT = "a red fox trotting through snow"
MODEL = "google/veo-3.1-fast"
REFS_MODEL = "google/veo-3.1"


def data_uri(color: tuple[int, int, int] = (200, 30, 40)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), color).save(buf, "PNG")  # as the provider tests use: the render is shared
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def create(http: httpx.Client, model: str = MODEL, **inp: Any) -> dict[str, Any]:
    r = http.post(
        f"/v1/models/{model}/predictions",
        json={"input": {"prompt": PROMPT, "duration": 4, "resolution": "720p", "seed": 7, **inp}},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def wait(http: httpx.Client, pid: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        doc: dict[str, Any] = http.get(f"/v1/predictions/{pid}", headers=AUTH).json()
        seen.add(doc["status"])
        if doc["status"] in ("succeeded", "failed", "canceled"):
            doc["_seen"] = seen
            return doc
        time.sleep(0.03)
    raise AssertionError("prediction did not finish")


def test_auth_and_unknown_model_are_problem_documents(emu_http: httpx.Client) -> None:
    r = emu_http.post(
        f"/v1/models/{MODEL}/predictions", json={"input": {"prompt": "x"}}, headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401 and r.json()["title"] == "Unauthenticated"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = emu_http.post("/v1/models/google/veo-9/predictions", json={"input": {"prompt": "x"}}, headers=AUTH)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("inp", "field"),
    [
        ({"duration": 5}, "input.duration"),
        ({"reference_images": ["REF"], "aspect_ratio": "9:16", "duration": 8}, "input.reference_images"),
        ({"reference_images": ["REF"], "duration": 4}, "input.reference_images"),
        ({"last_frame": "REF"}, "input.last_frame"),
        ({"image": "https://nowhere.invalid/a.png"}, "input.image"),
    ],
)
def test_invalid_input_names_the_field(emu_http: httpx.Client, inp: dict[str, Any], field: str) -> None:
    inp = {k: ([data_uri()] if v == ["REF"] else data_uri() if v == "REF" else v) for k, v in inp.items()}
    r = emu_http.post(f"/v1/models/{REFS_MODEL}/predictions", json={"input": {"prompt": "x", **inp}}, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["invalid_fields"][0]["field"] == field


def test_prediction_lifecycle_and_output(emu_http: httpx.Client, emulator: EmulatorServer, tmp_path: Path) -> None:
    created = create(emu_http, image=data_uri(), last_frame=data_uri((30, 40, 200)))
    assert created["status"] == "starting" and created["output"] is None
    assert created["urls"]["get"].endswith(f"/v1/predictions/{created['id']}")
    done = wait(emu_http, created["id"])
    assert done["status"] == "succeeded" and {"starting", "processing", "succeeded"} >= done["_seen"]
    path = tmp_path / "v.mp4"
    path.write_bytes(emu_http.get(done["output"]).content)
    info = probe_mp4(path)
    assert (info.width, info.height, round(info.duration_s)) == (1280, 720, 4)
    st = emulator.stats()
    assert st["submits"] == {credential_id("replicate", TOKEN): {MODEL: 1}} and TOKEN not in json.dumps(st)
    # Replicate returns no data URLs in `input`: an inline file is shown as the URL of a stored copy.
    echoed = done["input"]["image"]
    assert echoed.startswith(emulator.base_url) and not echoed.startswith("data:")
    assert "data:image/png;base64," + base64.b64encode(emu_http.get(echoed).content).decode() == data_uri()


def test_safety_failure_and_cancel(emu_http: httpx.Client) -> None:
    blocked = wait(emu_http, create(emu_http, prompt="x [emulate:filtered]")["id"])
    assert blocked["status"] == "failed" and "(E005)" in blocked["error"]
    failed = wait(emu_http, create(emu_http, prompt="x [emulate:failed]")["id"])
    assert failed["status"] == "failed" and "E005" not in failed["error"]
    running = create(emu_http, prompt="x [emulate:failed]")  # cancelled before it would fail
    r = emu_http.post(f"/v1/predictions/{running['id']}/cancel", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    assert emu_http.get("/v1/predictions/nope", headers=AUTH).status_code == 404
