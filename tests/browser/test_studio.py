"""The studio as a person uses it, in headless Chromium: sign in, see the price before paying, bad input named
at its field with nothing submitted, generate → live queue → gallery → player, re-run, delete, cancel, and the
day's spend against the key's budget (issue 12)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.integration.conftest import settings_for, stats
from tests.integration.service_fixtures import InProcessService, make_key
from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, verify_mp4

from .conftest import BEFORE_GEMINI_SHUTDOWN

WAIT_MS = 120_000  # jobs (and a film's stitch) run in other threads on a shared machine: generous, never a race


def serve(emu: EmulatorServer, tmp_path: Path) -> Iterator[tuple[InProcessService, Settings]]:
    settings = settings_for(emu, tmp_path)
    running = InProcessService(settings, concurrency=4).start()
    try:
        yield running, settings
    finally:
        running.stop()


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[tuple[InProcessService, Settings, EmulatorServer]]:
    with EmulatorServer(EmulatorConfig(latency_s=0.3, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        for svc, settings in serve(emu, tmp_path):
            yield svc, settings, emu


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[tuple[InProcessService, Settings, EmulatorServer]]:
    """Operations that take an hour: a job is certainly still running when the test acts on it."""
    with EmulatorServer(EmulatorConfig(latency_s=3600.0, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        for svc, settings in serve(emu, tmp_path):
            yield svc, settings, emu


def new_key(settings: Settings, name: str, **kw: Any) -> str:
    """A key made through the service layer, in a thread of its own: Playwright's sync API keeps an event loop
    running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(make_key, settings, name, **kw).result().secret


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(url)
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#studio")).to_be_visible()


def api_estimate(url: str, key: str, **fields: str) -> float:
    r = httpx.post(f"{url}/v1/veokit/estimate", headers={"Authorization": f"Bearer {key}"}, data=fields)
    assert r.status_code == 200, r.text
    return float(r.json()["estimate_usd"])


def test_sign_in_price_generate_play_rerun_delete(
    page: Page, quick: tuple[InProcessService, Settings, EmulatorServer]
) -> None:
    svc, settings, emu = quick
    key = new_key(settings, "alice", budget_daily_usd=50.0)

    page.goto(svc.url)
    page.fill("#key", "vk_not-a-key")
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_have_text("That key was not accepted.")
    page.fill("#key", key)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#studio")).to_be_visible()
    expect(page.locator("#who-name")).to_have_text("Key: alice")
    expect(page.locator("#spend-text")).to_have_text("Today: $0.00 spent of $50.00")

    # The price, from the service, before anything is paid; the button says it too.
    page.fill("#prompt", "a red fox in fresh snow, morning light")
    page.select_option("#size", "1280x720")
    page.select_option("#seconds", "4")
    model = page.locator("#model option:checked").inner_text()
    expected = api_estimate(svc.url, key, prompt="a red fox in fresh snow, morning light", size="1280x720", seconds="4")
    expect(page.get_by_test_id("price")).to_have_text(f"${expected:.2f}")
    expect(page.locator("#create-button")).to_have_text(f"Generate · ${expected:.2f}")
    expect(page.locator("#create-button")).to_be_enabled()
    assert model

    # A bad value is named at its field, the button is off, and nothing reaches the provider.
    page.click(".more summary")
    page.fill("#seed", "not a number")
    expect(page.locator('.field-error[data-for="seed"]')).to_contain_text("seed")
    expect(page.locator("#create-button")).to_be_disabled()
    page.fill("#seed", "42")
    expect(page.locator("#create-button")).to_be_enabled()
    assert stats(emu)["submits_total"] == 0

    page.click("#create-button")
    tile = page.locator('.tile[data-status="completed"]')
    expect(tile).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(".job")).to_have_count(0)
    assert stats(emu)["submits_total"] == 1
    # The poster frame is a real image the browser decoded.
    expect(tile.locator("img")).to_have_js_property("complete", True, timeout=WAIT_MS)
    assert tile.locator("img").evaluate("img => img.naturalWidth") > 0
    expect(page.locator("#spend-text")).to_have_text(f"Today: ${expected:.2f} spent of $50.00")

    # Hover plays the clip; the player plays the whole video.
    tile.hover()
    expect(tile.locator("video")).to_have_class("ready", timeout=WAIT_MS)
    tile.click()
    expect(page.locator("#player")).to_be_visible()
    page.wait_for_function("document.querySelector('#player-video').readyState >= 1", timeout=WAIT_MS)
    assert abs(page.locator("#player-video").evaluate("v => v.duration") - 4.0) < 0.5
    expect(page.locator("#player-facts")).to_contain_text("42")

    # Download is the verified MP4, from a link that needs no key.
    href = page.locator("#act-download").get_attribute("href")
    assert href is not None and key not in href
    mp4 = httpx.get(href)
    assert mp4.status_code == 200
    target = Path(settings.out_dir) / "downloaded.mp4"
    target.write_bytes(mp4.content)
    verify_mp4(target, Expectation(duration_s=4.0))

    # Re-run: the same settings and seed, a new video.
    page.click("#act-rerun")
    expect(page.locator('.tile[data-status="completed"]')).to_have_count(2, timeout=WAIT_MS)
    assert stats(emu)["submits_total"] == 2
    listed = httpx.get(f"{svc.url}/v1/videos", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert [v["veokit"]["request"]["seed"] for v in listed] == [42, 42]

    # Extend: Veo continues a finished video; the new one names its source.
    page.locator(".tile").first.click()
    page.click("#act-extend")
    page.fill("#extend-prompt", "the fox runs into the forest")
    page.click("#extend-form button[type=submit]")
    expect(page.locator('.tile[data-status="completed"]')).to_have_count(3, timeout=WAIT_MS)
    listed = httpx.get(f"{svc.url}/v1/videos", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert listed[0]["prompt"] == "the fox runs into the forest" and listed[0]["veokit"]["request"]["video"]
    assert stats(emu)["submits_total"] == 3

    # Delete one (confirmed in a dialog).
    page.on("dialog", lambda d: d.accept())
    page.locator(".tile").first.click()
    page.click("#act-delete")
    expect(page.locator(".tile")).to_have_count(2)
    listed = httpx.get(f"{svc.url}/v1/videos", headers={"Authorization": f"Bearer {key}"}).json()["data"]
    assert len(listed) == 2

    # The key stays in the browser: a reload is still signed in.
    page.reload()
    expect(page.locator("#studio")).to_be_visible()
    expect(page.locator(".tile")).to_have_count(2)

    # A screenshot of the studio as it was left (kept beside the test's files): a real render, posters drawn.
    expect(page.locator(".tile img").first).to_have_js_property("complete", True)
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    shot.save(Path(settings.out_dir).parent / "studio.png")
    assert shot.width == 1280 and shot.height >= 900
    box = page.locator(".tile img").first.bounding_box()
    assert box is not None
    poster = shot.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])))
    colours = poster.getcolors(maxcolors=4096)
    assert colours is None or len(colours) > 50, "the poster frame is blank in the screenshot"


def test_live_queue_and_cancel(page: Page, slow: tuple[InProcessService, Settings, EmulatorServer]) -> None:
    svc, settings, emu = slow
    key = new_key(settings, "bob")
    sign_in(page, svc.url, key)
    page.fill("#prompt", "a lighthouse at dusk")
    page.select_option("#seconds", "4")
    page.click(".more summary")
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), (30, 90, 200)).save(buf, "PNG")
    page.set_input_files(
        "#input_reference", files=[{"name": "first.png", "mimeType": "image/png", "buffer": buf.getvalue()}]
    )
    expect(page.locator("#create-button")).to_be_enabled()
    page.click("#create-button")

    job = page.locator(".job")
    expect(job).to_have_count(1)
    job.evaluate("node => { node.dataset.mark = 'first node' }")
    # The stream brings the video to the provider: "Rendering" once the operation runs.
    expect(job.locator(".job-meta")).to_contain_text("Rendering", timeout=WAIT_MS)
    # Redraws update the job's node in place: a click whose mousedown and mouseup straddle a redraw still lands.
    expect(job).to_have_attribute("data-mark", "first node")
    assert stats(emu)["submits_total"] == 1
    job.locator("button", has_text="Cancel").click()
    expect(page.locator(".job")).to_have_count(0)
    failed = page.locator('.tile[data-status="failed"]')
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("cancelled")
    video = httpx.get(f"{svc.url}/v1/videos", headers={"Authorization": f"Bearer {key}"}).json()["data"][0]
    assert video["veokit"]["state"] == "cancelled"
    assert video["veokit"]["request"]["image"]["size_bytes"] == len(buf.getvalue())  # the first frame went along


def test_over_budget_is_said_in_words_and_cannot_be_submitted(
    page: Page, quick: tuple[InProcessService, Settings, EmulatorServer]
) -> None:
    svc, settings, emu = quick
    key = new_key(settings, "carol", budget_daily_usd=0.25)
    sign_in(page, svc.url, key)
    page.fill("#prompt", "a long tracking shot through a forest")
    expect(page.locator("#price")).to_contain_text("Over today's budget: $0.25 left")
    expect(page.locator("#create-button")).to_be_disabled()
    # An unreachable service is a sentence, not a stack trace.
    page.route("**/v1/veokit/estimate", lambda route: route.abort())
    page.fill("#prompt", "a long tracking shot through a forest at night")
    expect(page.locator("#create-error")).to_have_text("The service cannot be reached. Is `veokit serve` running?")
    assert stats(emu)["submits_total"] == 0
