"""`veokit serve` beyond the SDK's calls: Server-Sent Events, the design's bridge routes, webhooks checked with
the `openai` SDK's own verifier, extensions, and the operations endpoints."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from veokit.config import Settings
from veokit.emulator import EmulatorServer

from .conftest import settings_for, stats, until
from .service_fixtures import InProcessService, make_key


class Receiver:
    """A webhook receiver on loopback that records each delivery (and can refuse the first few)."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.refuse = refuse_first
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                refused = len(outer.deliveries) <= outer.refuse
                self.send_response(503 if refused else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def settings(emu: EmulatorServer, tmp_path: Path) -> Settings:
    return settings_for(emu, tmp_path, server_webhook_backoff_s=0.05)


@pytest.fixture
def svc(settings: Settings) -> Iterator[InProcessService]:
    running = InProcessService(settings, concurrency=8).start()
    yield running
    running.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sse(response: httpx.Response) -> list[tuple[str | None, str, dict[str, Any]]]:
    """(id, event, data) of each event of a finished stream."""
    out, fields = [], {}
    for line in response.iter_lines():
        if not line:
            if "data" in fields:
                out.append((fields.get("id"), fields.get("event", "message"), json.loads(fields["data"])))
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
    return out


def test_events_stream_the_history_then_live_changes_and_resume_after_last_event_id(
    svc: InProcessService, settings: Settings
) -> None:
    key = make_key(settings, "sse").secret
    video = openai.OpenAI(base_url=f"{svc.url}/v1", api_key=key).videos.create(prompt="a paper boat", seconds="4")
    with httpx.stream("GET", f"{svc.url}/v1/videos/{video.id}/events", headers=auth(key), timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse(r)  # the stream ends by itself at the terminal state
    states = [(i, d["to"]) for i, kind, d in events if kind == "state"]
    assert [int(i) for i, _ in states] == list(range(1, len(states) + 1))
    assert states[0][1] == "queued" and states[-1][1] == "succeeded"
    assert {"running", "downloading"} <= {to for _, to in states}
    assert events[-1][2]["video"]["status"] == "completed"
    # Reconnecting with the last id seen gets only what came after; a finished job's stream ends at once.
    middle = states[len(states) // 2][0]
    with httpx.stream(
        "GET", f"{svc.url}/v1/videos/{video.id}/events", headers={**auth(key), "Last-Event-ID": str(middle)}
    ) as r:
        rest = [int(i) for i, kind, _ in sse(r) if kind == "state"]
    assert rest == list(range(int(middle) + 1, len(states) + 1))
    other = make_key(settings, "nosy").secret
    assert httpx.get(f"{svc.url}/v1/videos/{video.id}/events", headers=auth(other)).status_code == 404


def test_the_bridge_routes(svc: InProcessService, settings: Settings, emu: EmulatorServer) -> None:
    key = make_key(settings, "bridge").secret
    buf = io.BytesIO()
    Image.new("RGB", (720, 1280), (20, 90, 200)).save(buf, "PNG")
    made = httpx.post(
        f"{svc.url}/api/veo3/generate",
        headers=auth(key),
        json={
            "prompt": "a harbour at dawn",
            "image": base64.b64encode(buf.getvalue()).decode(),
            "aspectRatio": "9:16",
            "quality": "fast",
        },
    ).json()
    assert made["success"] is True and made["data"]["status"] == "pending"
    task = made["data"]["taskId"]

    def finished() -> dict[str, Any] | None:
        got = httpx.get(f"{svc.url}/api/veo3/status/{task}", headers=auth(key)).json()
        assert got["success"] and got["data"]["status"] in ("pending", "processing", "completed")
        return got["data"] if got["data"]["status"] == "completed" else None

    data = until(finished)
    assert data["progress"] == 100 and data["videoUrl"].startswith(svc.url)
    assert key not in data["videoUrl"] and "googleapis" not in data["videoUrl"]
    assert httpx.get(data["videoUrl"]).headers["content-type"] == "video/mp4"  # a browser can play it as is
    bad = httpx.post(f"{svc.url}/api/veo3/generate", headers=auth(key), json={"prompt": "x" * 9000})
    assert bad.status_code in (400, 422) and bad.json().get("success", False) is False
    # Named as this route's body names its fields (not /v1/videos' input_reference).
    bad = httpx.post(f"{svc.url}/api/veo3/generate", headers=auth(key), json={"prompt": "x", "image": "aGVsbG8="})
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("image:"), bad.text
    assert stats(emu)["submits_total"] == 1
    missing = httpx.get(f"{svc.url}/api/veo3/status/job_nosuchjob", headers=auth(key))
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "error": {"code": "video_not_found", "message": missing.json()["error"]["message"], "retryable": False},
    }


def test_webhooks_are_signed_verified_by_the_sdk_retried_and_delivered_once(
    svc: InProcessService, settings: Settings
) -> None:
    receiver = Receiver(refuse_first=1)
    try:
        made = make_key(settings, "hooked", webhook_url=receiver.url)
        assert made.webhook_secret is not None and made.webhook_secret.startswith("whsec_")
        client = openai.OpenAI(base_url=f"{svc.url}/v1", api_key=made.secret)
        ok = client.videos.create(prompt="a lantern", seconds="4")
        client.videos.poll(ok.id, poll_interval_ms=50)
        until(lambda: len(receiver.deliveries) >= 2)  # refused once, then delivered
        (first_headers, first_body), (headers, body) = receiver.deliveries[:2]
        verifier = openai.OpenAI(api_key="unused", webhook_secret=made.webhook_secret)
        verifier.webhooks.verify_signature(body, headers)
        with pytest.raises(openai.InvalidWebhookSignatureError):
            verifier.webhooks.verify_signature(body + b" ", headers)
        event = json.loads(body)
        assert (event["type"], event["data"]["id"], event["object"]) == ("video.completed", ok.id, "event")
        assert first_headers["webhook-id"] == headers["webhook-id"] and first_body == body  # a retry is the same event

        cancelled = client.videos.create(prompt="never mind", seconds="4")
        client.post(f"/videos/{cancelled.id}/cancel", cast_to=openai.types.Video)
        until(lambda: len(receiver.deliveries) >= 3)
        failed = json.loads(receiver.deliveries[2][1])
        assert (failed["type"], failed["data"]["id"]) == ("video.failed", cancelled.id)
        quiet = make_key(settings, "quiet")  # no webhook: nothing sent for its videos
        openai.OpenAI(base_url=f"{svc.url}/v1", api_key=quiet.secret).videos.create(prompt="q", seconds="4")
        assert len({h["webhook-id"] for h, _ in receiver.deliveries}) == 2
    finally:
        receiver.close()


def test_extending_a_video_of_the_key(svc: InProcessService, settings: Settings, emu: EmulatorServer) -> None:
    key = make_key(settings, "ext").secret
    client = openai.OpenAI(base_url=f"{svc.url}/v1", api_key=key)
    source = client.videos.create(prompt="a fox walks", seconds="8")
    client.videos.poll(source.id, poll_interval_ms=50)
    # The SDK's extend() sends form data and takes only a file for `video`: a video id goes in extra_body.
    extended = client.videos.extend(
        prompt="the fox runs", seconds="8", video=openai.omit, extra_body={"video": {"id": source.id}}
    )
    done = client.videos.poll(extended.id, poll_interval_ms=50)
    assert done.status == "completed" and int(done.seconds) > 8  # the whole video, as OpenAI counts it
    mp4 = client.videos.download_content(source.id).content
    with pytest.raises(openai.BadRequestError) as info:  # an uploaded MP4, probed; 4 s is not an extension
        client.videos.extend(prompt="again", seconds="4", video=("fox.mp4", mp4, "video/mp4"))
    assert info.value.body["param"] == "seconds"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as info:  # a truncated upload, named as the caller named it
        client.videos.extend(prompt="again", seconds="8", video=("half.mp4", mp4[: len(mp4) // 2], "video/mp4"))
    body: Any = info.value.body
    assert body["param"] == "video" and "half.mp4" in body["message"] and "key_" not in body["message"], body
    remixed = client.videos.remix(source.id, prompt="a fox sleeps")
    assert client.videos.poll(remixed.id, poll_interval_ms=50).status == "completed"
    assert stats(emu)["submits_total"] == 3


def test_operations_endpoints(svc: InProcessService, settings: Settings) -> None:
    key = make_key(settings, "ops").secret
    assert httpx.get(f"{svc.url}/healthz").json() == {"ok": True}
    ready = httpx.get(f"{svc.url}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] and ready.json()["runs_jobs"]
    client = openai.OpenAI(base_url=f"{svc.url}/v1", api_key=key)
    client.videos.poll(client.videos.create(prompt="metered", seconds="4").id, poll_interval_ms=50)
    text = httpx.get(f"{svc.url}/metrics").text
    for name in (
        'veokit_jobs{provider="vertex",state="succeeded"} 1.0',
        'veokit_submits_total{provider="vertex"} 1.0',
        "veokit_polls_total",
        "veokit_download_bytes_total",
        "veokit_spend_today_usd",
        'veokit_http_requests_total{method="POST",route="/v1/videos",status="200"} 1.0',
        "veokit_http_request_duration_seconds_bucket",
    ):
        assert name in text, name
    assert "/v1/videos/job_" not in text  # routes by template, never by id
    spec = httpx.get(f"{svc.url}/openapi.json").json()
    assert {"/v1/videos", "/v1/videos/{video_id}/content", "/api/veo3/generate", "/v1/veokit/spend"} <= set(
        spec["paths"]
    )
    assert httpx.get(f"{svc.url}/docs").status_code == 200
    edit = httpx.post(f"{svc.url}/v1/videos/edits", headers=auth(key), data={"prompt": "x"})
    assert edit.status_code == 404 and "remix" in edit.json()["error"]["message"]  # said, not a bare 405
    estimate = httpx.post(
        f"{svc.url}/v1/veokit/estimate",
        headers=auth(key),
        json={"prompt": "a fox", "seconds": "8", "size": "1920x1080"},
    ).json()
    assert estimate["estimate_usd"] > 0 and estimate["size"] == "1920x1080" and estimate["fits_budget"]
    # A newer veokit sharing the store migrated it past what this one knows: not ready, and why.
    with sqlite3.connect(str(settings.database_url).removeprefix("sqlite:///")) as db:
        db.execute("update veokit_schema_version set version_num = '9999'")
    ready = httpx.get(f"{svc.url}/readyz")
    assert ready.status_code == 503 and "revision 9999" in ready.json()["problem"], ready.text


def test_the_access_log_names_the_key_never_the_secret(
    svc: InProcessService, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    made = make_key(settings, "logged")
    with caplog.at_level("INFO", logger="veokit.server.access"):
        httpx.get(f"{svc.url}/v1/videos?after=x", headers=auth(made.secret))
        httpx.get(f"{svc.url}/v1/videos", headers=auth("vk_wrong"))

        def logged() -> list[Any]:  # written once the response is sent: the client can read it first
            return [json.loads(r.getMessage()) for r in caplog.records if r.name == "veokit.server.access"]

        lines = until(lambda: len(logged()) >= 2 and logged())
    assert [(x["route"], x["status"], x["key"]) for x in lines] == [
        ("/v1/videos", 200, "logged"),
        ("/v1/videos", 401, None),
    ]
    assert made.secret not in caplog.text and "vk_wrong" not in caplog.text and "after=x" not in caplog.text
