"""Films over HTTP (`/v1/veokit/films`) against `veokit serve` on loopback and the emulator: a storyboard planned
and priced with nothing paid, a 400 naming the shot, the price confirmed before a render, the stitched film,
takes picked with the price of what follows, and one key never reaching another's film (issue 13 item 6)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import probe_mp4

from .conftest import BEFORE_GEMINI_SHUTDOWN, KITES, settings_for, stats, until
from .service_fixtures import InProcessService, make_key

FILM = KITES


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(latency_s=0.2, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as server:
        yield server


@pytest.fixture
def settings(emu: EmulatorServer, tmp_path: Path) -> Settings:
    return settings_for(emu, tmp_path)


@pytest.fixture
def svc(settings: Settings) -> Iterator[InProcessService]:
    running = InProcessService(settings, concurrency=4, deliver_webhooks=False).start()
    yield running
    running.stop()


def api(svc: InProcessService, secret: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.Client(base_url=f"{svc.url}/v1/veokit", headers=headers, timeout=30)


def submits(emu: EmulatorServer) -> int:
    return sum(n for by_model in stats(emu)["submits"].values() for n in by_model.values())


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 360), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def post_yaml(client: httpx.Client, text: str) -> httpx.Response:
    return client.post("/films", content=text, headers={"Content-Type": "text/yaml"})


def test_plan_render_pick_and_download_a_film_over_http(
    svc: InProcessService, settings: Settings, emu: EmulatorServer
) -> None:
    alice = api(svc, make_key(settings, "alice").secret)
    bob = api(svc, make_key(settings, "bob").secret)

    # A bad storyboard: a 400 naming the line, shot and field, as `veokit film plan` exits 2; nothing kept.
    bad = post_yaml(alice, FILM.replace("takes: 2", "takes: 2\n    duration: 5"))
    assert bad.status_code == 400, bad.text
    error = bad.json()["error"]
    assert (error["param"], error["shot"], error["line"]) == ("duration", "rise", 7)
    assert 'shots[0] (id "rise"): duration' in error["message"]
    assert alice.get("/films").json()["data"] == []

    # Planned and priced per shot; nothing submitted.
    made = post_yaml(alice, FILM)
    assert made.status_code == 201, made.text
    film: dict[str, Any] = made.json()
    assert [s["shot"] for s in film["shots"]] == ["rise", "dive"]
    assert [len(s["takes"]) for s in film["shots"]] == [2, 1]
    assert film["total_usd"] == film["to_pay_usd"] == round(sum(s["usd"] for s in film["shots"]), 4) > 0
    assert film["shots"][0]["usd"] == 2 * film["shots"][0]["usd_per_take"]
    assert (film["done"], film["rendering"], film["film_url"]) == (False, False, None)
    assert all(t["state"] == "not recorded" and t["job_id"] is None for s in film["shots"] for t in s["takes"])
    assert submits(emu) == 0
    fid = film["id"]

    # Another key: as if the film did not exist.
    assert bob.get("/films").json()["data"] == []
    for response in (
        bob.get(f"/films/{fid}"),
        bob.post(f"/films/{fid}/render", json={"confirm_usd": 100}),
        bob.post(f"/films/{fid}/pick", json={"shot": "rise", "take": 2}),
        bob.get(f"/films/{fid}/content"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "film_not_found"

    # Nothing is spent by surprise: no confirmation, or one under the price, is a 400 saying the price.
    for body in (None, {"confirm_usd": film["to_pay_usd"] - 0.01}):
        refused = alice.post(f"/films/{fid}/render", json=body)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == "confirm_usd"
        assert f"{film['to_pay_usd']:.2f}" in refused.json()["error"]["message"]
    assert submits(emu) == 0

    started = alice.post(f"/films/{fid}/render", json={"confirm_usd": film["to_pay_usd"]})
    assert started.status_code == 202, started.text
    done = until(lambda: (f := alice.get(f"/films/{fid}").json())["film_url"] and f, timeout_s=600)
    assert done["done"] and done["render_error"] is None and done["to_pay_usd"] == 0
    assert submits(emu) == 3  # takes, exactly
    rise, dive = done["shots"]
    assert [t["chosen"] for t in rise["takes"]] == [True, False] and rise["pick"] == 1
    assert all(t["state"] == "succeeded" and t["poster_url"] and t["video_url"] for t in rise["takes"] + dive["takes"])
    assert "video" not in rise["takes"][0] and "address" not in rise  # no server paths handed out

    # The takes are alice's videos, and only hers; their posters and the film are signed links (no key needed).
    take_ids = {t["job_id"] for t in rise["takes"] + dive["takes"]}
    v1 = f"{svc.url}/v1/videos"
    assert {v["id"] for v in httpx.get(v1, headers=alice.headers).json()["data"]} == take_ids
    assert httpx.get(v1, headers=bob.headers).json()["data"] == []
    assert httpx.get(rise["takes"][0]["poster_url"]).headers["content-type"] == "image/webp"
    video = httpx.get(done["film_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert httpx.get(done["film_url"].replace("sig=", "sig=x")).status_code == 401
    assert bob.get(f"/films/{fid}/content").status_code == 404
    keyed = alice.get(f"/films/{fid}/content", headers={"Range": "bytes=0-99"})
    assert keyed.status_code == 206 and len(keyed.content) == 100
    stitched = Path(settings.out_dir) / "check.mp4"
    stitched.write_bytes(video.content)
    assert probe_mp4(stitched).duration_s == pytest.approx(done["film_seconds"], abs=0.1)

    # Picking take 2 of "rise": the price of re-rendering "dive" from it first, applied once confirmed.
    preview = alice.post(f"/films/{fid}/pick", json={"shot": "rise", "take": 2}).json()
    assert (preview["previous"], preview["dependents"], preview["applied"]) == (1, ["dive"], False)
    assert preview["to_render"] == [{"shot": "dive", "take": 1}] and preview["usd"] == dive["usd_per_take"]
    assert preview["film"]["shots"][0]["pick"] == 1  # not applied
    short = alice.post(f"/films/{fid}/pick", json={"shot": "rise", "take": 2, "confirm_usd": 0})
    assert short.status_code == 400 and short.json()["error"]["param"] == "confirm_usd"
    applied = alice.post(f"/films/{fid}/pick", json={"shot": "rise", "take": 2, "confirm_usd": preview["usd"]}).json()
    assert applied["applied"] and applied["film"]["shots"][0]["pick"] == 2
    assert applied["film"]["to_pay_usd"] == preview["usd"] and applied["film"]["film_url"] is None
    missing = alice.post(f"/films/{fid}/pick", json={"shot": "rise", "take": 3})
    assert missing.status_code == 400 and missing.json()["error"]["shot"] == "rise"
    assert submits(emu) == 3  # a pick pays nothing by itself


def test_storyboards_over_http_name_no_local_file_and_the_key_budget_holds(
    svc: InProcessService, settings: Settings, emu: EmulatorServer, tmp_path: Path
) -> None:
    secret = make_key(settings, "carol", budget_daily_usd=0.3).secret
    carol = api(svc, secret)
    secret_file = tmp_path / "secret.png"
    secret_file.write_bytes(b"not for the sender")
    for written in (str(secret_file), "secret.png", "../../secret.png"):
        board = FILM.replace(
            "shots:", f"characters:\n  kite: {{description: a red kite, images: ['{written}']}}\nshots:"
        )
        refused = post_yaml(carol, board)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == "images"
        assert "data: URL" in refused.json()["error"]["message"]
    # Inline images are what a sender may give: accepted, and part of each shot's price and address.
    inline = "data:image/png;base64," + base64.b64encode(png()).decode()
    board = FILM.replace("shots:", f"characters:\n  kite: {{description: a red kite, images: ['{inline}']}}\nshots:")
    board = board.replace("duration: 4", "duration: 8").replace(
        "prompt: A red", "characters: [kite]\n    prompt: A red"
    )
    with_image = post_yaml(carol, board)
    assert with_image.status_code == 201, with_image.text
    assert carol.post("/films", content="", headers={"Content-Type": "text/yaml"}).status_code == 400
    assert carol.post("/films", content=b"x", headers={"Content-Type": "image/png"}).status_code == 415
    assert api(svc, None).get("/films").status_code == 401

    # JSON works as YAML does; a film over the key's daily budget is refused before its first take.
    film = carol.post(
        "/films", json={"title": "One", "defaults": {"duration": 4}, "shots": [{"id": "a", "prompt": "x"}]}
    )
    assert film.status_code == 201, film.text
    price = film.json()["to_pay_usd"]
    assert price > 0.3
    over = carol.post(f"/films/{film.json()['id']}/render", json={"confirm_usd": price})
    assert over.status_code == 402, over.text
    assert "carol" in over.json()["error"]["message"]
    assert submits(emu) == 0
