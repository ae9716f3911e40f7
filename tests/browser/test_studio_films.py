"""The studio's Films tab in headless Chromium: paste a storyboard, a bad one named at its shot, the plan with
per-shot prices before paying, render at the confirmed price, shots in order with posters, the stitched film
playing, and a take picked after its downstream price is shown (issue 13 item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.integration.conftest import KITES, settings_for, stats
from tests.integration.service_fixtures import InProcessService
from veokit.config import Settings
from veokit.emulator import EmulatorConfig, EmulatorServer

from .conftest import BEFORE_GEMINI_SHUTDOWN
from .test_studio import WAIT_MS, new_key, sign_in

FILM = KITES


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[InProcessService, Settings, EmulatorServer]]:
    with EmulatorServer(EmulatorConfig(latency_s=0.2, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        settings = settings_for(emu, tmp_path)
        svc = InProcessService(settings, concurrency=4, deliver_webhooks=False).start()
        try:
            yield svc, settings, emu
        finally:
            svc.stop()


def submits(emu: EmulatorServer) -> int:
    return sum(n for by_model in stats(emu)["submits"].values() for n in by_model.values())


def test_plan_render_watch_and_pick_a_film(
    page: Page, served: tuple[InProcessService, Settings, EmulatorServer]
) -> None:
    svc, settings, emu = served
    key = new_key(settings, "alice")
    sign_in(page, svc.url, key)
    page.click('.tab[data-tab="films"]')
    expect(page.locator("#films")).to_be_visible()
    expect(page.locator("#studio")).to_be_hidden()

    # A bad storyboard: the problem named at its line, shot and field; nothing planned.
    page.fill("#film-text", FILM.replace("takes: 2", "takes: 2\n    duration: 5"))
    page.click("#film-plan")
    expect(page.locator("#film-error")).to_contain_text('line 7: shots[0] (id "rise"): duration')
    expect(page.locator("#film-view")).to_be_hidden()

    # The plan: shots in order with their prices and the total, before anything is paid.
    page.fill("#film-text", FILM)
    page.click("#film-plan")
    expect(page.locator("#film-view")).to_be_visible()
    expect(page.locator("#film-error")).to_be_empty()
    film = httpx.get(f"{svc.url}/v1/veokit/films", headers={"Authorization": f"Bearer {key}"}).json()["data"][0]
    planned = httpx.get(f"{svc.url}/v1/veokit/films/{film['id']}", headers={"Authorization": f"Bearer {key}"}).json()
    rows = page.locator("#film-plan-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").first).to_have_text("rise")
    expect(rows.nth(1).locator("td").nth(5)).to_have_text(f"${planned['shots'][1]['usd']:.2f}")
    expect(page.locator("#film-total")).to_have_text(f"${planned['total_usd']:.2f}")
    expect(page.locator("#film-render")).to_have_text(f"Render · ${planned['to_pay_usd']:.2f}")
    expect(page.locator("#film-list li")).to_have_count(1)
    assert submits(emu) == 0

    # Render at the price shown; the takes come in with posters, and the stitched film plays.
    page.click("#film-render")
    expect(page.locator("#film-done")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#film-state")).to_have_text("rendered")
    assert submits(emu) == 3
    shots = page.locator("#film-shots .shot")
    expect(shots).to_have_count(2)
    expect(shots.nth(0)).to_have_attribute("data-shot", "rise")
    expect(page.locator("#film-shots .take img")).to_have_count(3)
    expect(page.locator("#film-shots .take.chosen")).to_have_count(2)
    page.wait_for_function("document.querySelector('#film-player').readyState >= 1", timeout=WAIT_MS)
    assert abs(page.locator("#film-player").evaluate("v => v.duration") - planned["film_seconds"]) < 0.5

    # Picking take 2 of "rise": its downstream price first, then the film needs rendering again.
    page.locator('.shot[data-shot="rise"] .take[data-take="2"] button').click()
    dive = planned["shots"][1]["usd_per_take"]
    expect(page.locator("#film-pick-text")).to_contain_text(f"re-renders dive for ${dive:.2f}")
    page.click("#film-pick-apply")
    expect(page.locator('.shot[data-shot="rise"] .take[data-take="2"]')).to_have_class("take chosen")
    expect(page.locator("#film-done")).to_be_hidden()
    expect(page.locator("#film-render")).to_have_text(f"Render · ${dive:.2f}")
    assert submits(emu) == 3
