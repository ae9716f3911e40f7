"""`veokit serve` with the official `openai` SDK, unchanged, over real HTTP: create → poll → download, list,
delete, tenancy both ways, idempotency, and bad requests that record and submit nothing (issue 12)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.media.probe import Expectation, verify_mp4

from .conftest import settings_for, stats, until
from .service_fixtures import InProcessService, make_key

UPLOAD_MAX = 2 * 2**20


@pytest.fixture
def settings(emu: EmulatorServer, tmp_path: Path) -> Settings:
    return settings_for(emu, tmp_path, server_fetch_private=False, server_upload_max_bytes=UPLOAD_MAX)


@pytest.fixture
def svc(settings: Settings) -> Iterator[InProcessService]:
    running = InProcessService(settings, concurrency=8).start()
    yield running
    running.stop()


def sdk(svc: InProcessService, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{svc.url}/v1", api_key=key, max_retries=0)


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (1280, 720)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_create_poll_download_list_delete_with_the_openai_sdk(
    svc: InProcessService, settings: Settings, emu: EmulatorServer, tmp_path: Path
) -> None:
    client = sdk(svc, make_key(settings, "alice").secret)
    video = client.videos.create(
        model="veo-3.1-fast-generate-001", prompt="a red fox in snow", seconds="4", size="1280x720"
    )
    assert (video.status, video.progress, video.seconds, video.size) == ("queued", 0, "4", "1280x720")
    raw = client.videos.with_raw_response.retrieve(video.id)
    assert int(raw.headers["openai-poll-after-ms"]) >= 250 or raw.parse().status == "completed"

    done = client.videos.poll(video.id, poll_interval_ms=50)
    assert (done.status, done.progress, done.error) == ("completed", 100, None)
    assert done.completed_at is not None and done.completed_at >= done.created_at
    extras: dict[str, Any] = done.model_extra["veokit"]  # type: ignore[index]
    assert extras["provider"] == "vertex" and extras["cost_usd"] == extras["estimate_usd"] > 0
    assert any(e["to"] == "succeeded" for e in extras["events"])

    target = tmp_path / "fox.mp4"
    client.videos.download_content(video.id).write_to_file(target)
    verify_mp4(target, Expectation(width=1280, height=720, duration_s=4.0))
    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert Image.open(io.BytesIO(thumb.content)).format == "WEBP"
    sheet = client.videos.download_content(video.id, variant="spritesheet")
    assert Image.open(io.BytesIO(sheet.content)).format == "JPEG"

    listed = client.videos.list(limit=10)
    assert [v.id for v in listed.data] == [video.id]
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    assert client.videos.list().data == []
    assert stats(emu)["submits_total"] == 1


def test_ranges_signed_links_and_the_cursor(svc: InProcessService, settings: Settings) -> None:
    key = make_key(settings, "bob").secret
    client = sdk(svc, key)
    ids = [client.videos.create(prompt=f"scene {i}", seconds="4").id for i in range(3)]
    for i in ids:
        client.videos.poll(i, poll_interval_ms=50)
    page = client.videos.list(limit=2)
    assert [v.id for v in page.data] == [ids[2], ids[1]] and page.has_more
    assert [v.id for v in client.videos.list(limit=2, after=ids[1]).data] == [ids[0]]
    assert [v.id for v in client.videos.list(order="asc").data] == ids
    assert [v.id for v in client.videos.list(limit=1, after=ids[2]).iter_pages().__next__().data] == [ids[1]]

    url = f"{svc.url}/v1/videos/{ids[0]}/content"
    auth = {"Authorization": f"Bearer {key}"}
    whole = httpx.get(url, headers=auth)
    part = httpx.get(url, headers={**auth, "Range": "bytes=100-199"})
    assert (part.status_code, part.content) == (206, whole.content[100:200])
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    # The Video's links work without the key (a browser's <video src>), and only as signed.
    link = client.videos.retrieve(ids[0]).model_extra["veokit"]["files"][0]["url"]  # type: ignore[index]
    assert key not in link and httpx.get(link).content == whole.content
    assert httpx.get(link.replace("sig=", "sig=x")).status_code == 401
    assert httpx.get(url).status_code == 401


def test_tenancy_both_ways(svc: InProcessService, settings: Settings) -> None:
    a, b = sdk(svc, make_key(settings, "a").secret), sdk(svc, make_key(settings, "b").secret)
    mine, theirs = a.videos.create(prompt="a's video", seconds="4"), b.videos.create(prompt="b's video", seconds="4")
    a.videos.poll(mine.id, poll_interval_ms=50)
    b.videos.poll(theirs.id, poll_interval_ms=50)
    for me, other in ((a, theirs.id), (b, mine.id)):
        assert other not in {v.id for v in me.videos.list().data}
        for call in _reaches(me, other):
            with pytest.raises(openai.NotFoundError):
                call()
    assert a.videos.retrieve(mine.id).status == "completed"  # untouched by b's attempts


def _reaches(me: openai.OpenAI, other: str) -> list[Any]:
    """Every way one key could reach a video."""
    return [
        lambda: me.videos.retrieve(other),
        lambda: me.videos.download_content(other),
        lambda: me.videos.delete(other),
        lambda: me.post(f"/videos/{other}/cancel", cast_to=openai.types.Video),
        lambda: me.videos.remix(other, prompt="mine now"),
        lambda: me.post(
            "/videos/extensions",
            body={"prompt": "more", "seconds": "8", "video": {"id": other}},
            cast_to=openai.types.Video,
        ),
        lambda: me.get(f"/videos/{other}/events", cast_to=httpx.Response),
    ]


def test_bad_requests_are_400s_naming_the_field_and_record_and_submit_nothing(
    svc: InProcessService, settings: Settings, emu: EmulatorServer
) -> None:
    client = sdk(svc, make_key(settings, "carol").secret)
    for kwargs, param in [
        ({"prompt": "a fox", "size": "1000x1000"}, "size"),
        ({"prompt": "a fox", "seconds": "5"}, "seconds"),
        ({"prompt": "x" * 9000}, "prompt"),
        ({"prompt": "a fox", "model": "sora-2"}, "model"),
        ({"prompt": "a fox", "size": "1920x1080", "seconds": "4"}, "seconds"),
        ({"prompt": "a fox", "input_reference": ("a.png", b"not an image", "image/png")}, "input_reference"),
        ({"prompt": "a fox", "input_reference": ("cut.png", png()[:300], "image/png")}, "input_reference"),
        ({"prompt": "a fox", "extra_body": {"negativ_prompt": "blur"}}, "negativ_prompt"),
        ({"prompt": "a fox", "extra_body": {"provider": "sora"}}, "provider"),
    ]:
        with pytest.raises(openai.BadRequestError) as info:
            client.videos.create(**kwargs)
        body: Any = info.value.body
        assert body["param"] == param, (kwargs, body)
        assert body["type"] == "invalid_request_error" and body["message"]
        # Named as the caller named it ("seconds", not veokit's "duration_seconds").
        assert body["message"].startswith(f"{param}:") or body["code"] == "unknown_parameter", body
    # JSON (the SDK sends a reference object only that way): an image URL on this machine is not fetched.
    for ref in ("http://127.0.0.1:1/x.png", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"):
        r = httpx.post(
            f"{svc.url}/v1/videos",
            headers={"Authorization": f"Bearer {client.api_key}"},
            json={"prompt": "a fox", "input_reference": {"image_url": ref}},
        )
        assert (r.status_code, r.json()["error"]["param"]) == (400, "input_reference"), r.text
    assert client.videos.list().data == []
    assert stats(emu)["submits_total"] == 0


def test_json_bodies_data_urls_and_veokit_fields(
    svc: InProcessService, settings: Settings, emu: EmulatorServer
) -> None:
    key = make_key(settings, "dave").secret
    data_url = "data:image/png;base64," + base64.b64encode(png()).decode()
    r = httpx.post(
        f"{svc.url}/v1/videos",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "prompt": "a lighthouse at dusk",
            "seconds": 8,
            "size": "720x1280",
            "input_reference": {"image_url": data_url},
            "seed": 7,
            "negative_prompt": "blur",
            "generate_audio": False,
        },
    )
    assert r.status_code == 200, r.text
    video = r.json()
    request = video["veokit"]["request"]
    assert (video["size"], video["seconds"]) == ("720x1280", "8")
    assert (request["seed"], request["negative_prompt"], request["generate_audio"]) == (7, "blur", False)
    assert request["image"]["mime_type"] == "image/png"
    client = sdk(svc, key)
    assert client.videos.poll(video["id"], poll_interval_ms=50).status == "completed"


def test_an_idempotency_key_submits_once_and_refuses_another_body(
    svc: InProcessService, settings: Settings, emu: EmulatorServer
) -> None:
    client = sdk(svc, make_key(settings, "erin").secret)
    headers = {"Idempotency-Key": "order-42"}
    first = client.videos.create(prompt="a kite", seconds="4", extra_headers=headers)
    again = client.videos.create(prompt="a kite", seconds="4", extra_headers=headers)
    assert again.id == first.id
    with pytest.raises(openai.ConflictError) as info:
        client.videos.create(prompt="another kite", seconds="4", extra_headers=headers)
    assert info.value.body["param"] == "Idempotency-Key"  # type: ignore[index]
    client.videos.poll(first.id, poll_interval_ms=50)
    assert stats(emu)["submits_total"] == 1 and len(client.videos.list().data) == 1


def test_no_key_or_a_revoked_one_is_401(svc: InProcessService, settings: Settings) -> None:
    made = make_key(settings, "frank")
    assert httpx.get(f"{svc.url}/v1/videos").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        sdk(svc, made.secret + "x").videos.list()
    assert sdk(svc, made.secret).videos.list().data == []

    async def revoke() -> None:
        from veokit.service import VeoClient

        async with VeoClient(settings) as c:
            await c.tenants.revoke_key("frank")

    import asyncio

    asyncio.run(revoke())
    with pytest.raises(openai.AuthenticationError):
        sdk(svc, made.secret).videos.list()


def test_limits_per_key_are_402_and_429(svc: InProcessService, settings: Settings, emu: EmulatorServer) -> None:
    emu.state.set_latency(3600.0, None)  # jobs stay in flight
    tight = sdk(svc, make_key(settings, "tight", max_in_flight=1).secret)
    tight.videos.create(prompt="one", seconds="4")
    with pytest.raises(openai.RateLimitError) as info:
        tight.videos.create(prompt="two", seconds="4")
    assert "in flight" in info.value.message
    poor = sdk(svc, make_key(settings, "poor", budget_daily_usd=0.5).secret)
    with pytest.raises(openai.APIStatusError) as paid:
        poor.videos.create(prompt="too dear", seconds="8")
    assert paid.value.status_code == 402 and "daily budget of $0.50" in paid.value.message
    spend = httpx.get(f"{svc.url}/v1/veokit/spend", headers={"Authorization": f"Bearer {poor.api_key}"}).json()
    assert (spend["budget_daily_usd"], spend["total_usd"], spend["remaining_usd"]) == (0.5, 0.0, 0.5)


def test_cancel_over_http(svc: InProcessService, settings: Settings, emu: EmulatorServer) -> None:
    emu.state.set_latency(3600.0, None)
    client = sdk(svc, make_key(settings, "gina").secret)
    video = client.videos.create(prompt="a slow sunrise", seconds="4")
    until(lambda: stats(emu)["polls"] >= 1)
    cancelled = client.post(f"/videos/{video.id}/cancel", cast_to=openai.types.Video)
    assert cancelled.status == "failed" and cancelled.error is not None and cancelled.error.code == "cancelled"
    assert client.videos.retrieve(video.id).model_extra["veokit"]["state"] == "cancelled"  # type: ignore[index]
    with pytest.raises(openai.ConflictError):
        client.post(f"/videos/{video.id}/cancel", cast_to=openai.types.Video)
    assert client.videos.delete(video.id).deleted


def test_a_body_over_the_upload_limit_is_413_declared_or_streamed_and_submits_nothing(
    svc: InProcessService, settings: Settings, emu: EmulatorServer
) -> None:
    client = sdk(svc, make_key(settings, "hana").secret)
    with pytest.raises(openai.APIStatusError) as info:  # the SDK declares its multipart body's length
        client.videos.create(prompt="a fox", input_reference=("big.png", b"\x89PNG" + bytes(3 * 2**20), "image/png"))
    assert info.value.status_code == 413 and "VEOKIT_SERVER_UPLOAD_MAX_BYTES" in info.value.message

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body is read
        for _ in range(6):
            yield bytes(2**19)

    r = httpx.post(
        f"{svc.url}/v1/videos",
        headers={"Authorization": f"Bearer {client.api_key}", "Content-Type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text
    assert client.videos.list().data == [] and stats(emu)["submits_total"] == 0


def test_a_service_that_cannot_save_videos_answers_503_and_submits_nothing(emu: EmulatorServer, tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("a file where the videos would go")
    settings = settings_for(emu, tmp_path, out_dir=tmp_path / "not-a-dir")
    running = InProcessService(settings).start()
    try:
        client = sdk(running, make_key(settings, "jack").secret)
        with pytest.raises(openai.InternalServerError) as info:
            client.videos.create(prompt="a fox", seconds="4")
        body: Any = info.value.body
        assert (info.value.status_code, body["code"]) == (503, "storage_unavailable")
        assert str(tmp_path) not in body["message"]  # the server's paths are its own business
        assert client.videos.list().data == [] and stats(emu)["submits_total"] == 0
    finally:
        running.stop()


def test_litellm_uses_it_as_an_openai_video_provider(svc: InProcessService, settings: Settings, tmp_path: Path) -> None:
    import litellm

    auth = {"api_base": f"{svc.url}/v1", "api_key": make_key(settings, "ivan").secret, "custom_llm_provider": "openai"}
    made = litellm.video_generation(model="openai/veo-3.1-fast", prompt="a paper boat", seconds="4", **auth)
    until(lambda: litellm.video_status(made.id, **auth).status == "completed")
    (tmp_path / "boat.mp4").write_bytes(litellm.video_content(made.id, **auth))
    verify_mp4(tmp_path / "boat.mp4", Expectation(width=1280, height=720, duration_s=4.0))
