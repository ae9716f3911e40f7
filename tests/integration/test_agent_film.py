"""The agent's film tools: a storyboard written by the model, priced, refused until the price is confirmed,
then rendered in the background and followed to the stitched film."""

from __future__ import annotations

from pathlib import Path

from veokit.agent.results import data_of, text_of
from veokit.agent.tools_core import VideoToolkit
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import probe_mp4
from veokit.service.client import VeoClient

from .conftest import BEFORE_GEMINI_SHUTDOWN, settings_for, stats

STORYBOARD = """\
title: Paper Boats
defaults: {provider: vertex, model: veo-3.1-fast-generate-001, duration: 4, seed: 3}
shots:
  - id: launch
    prompt: A child sets a paper boat on a puddle.
  - id: drift
    continuity: last_frame
    prompt: The boat drifts towards a drain.
"""


async def test_an_agent_writes_a_storyboard_and_renders_it_only_once_the_price_is_confirmed(tmp_path: Path) -> None:
    with (
        EmulatorServer(EmulatorConfig(latency_s=0.2, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu,
        VideoToolkit(VeoClient(settings_for(emu, tmp_path, job_deadline_s=600))) as kit,
    ):
        bad = await kit.plan_film(STORYBOARD.replace("continuity: last_frame", "continuity: sideways"))
        assert bad["status"] == "error" and 'shots[1] (id "drift"): continuity' in text_of(bad)

        planned = await kit.plan_film(STORYBOARD, save_as=str(tmp_path / "boats.yaml"))
        assert planned["status"] == "success", text_of(planned)
        plan = data_of(planned)
        assert plan["storyboard"] == str((tmp_path / "boats.yaml").resolve()) and plan["to_pay_usd"] == 0.8
        assert "confirm_usd=0.8" in text_of(planned)

        refused = await kit.render_film(plan["storyboard"], confirm_usd=0.5)
        assert refused["status"] == "error" and "costs $0.80" in text_of(refused)
        assert stats(emu)["submits_total"] == 0

        started = await kit.render_film(plan["storyboard"], confirm_usd=plan["to_pay_usd"])
        assert started["status"] == "success", text_of(started)
        for _ in range(20):
            status = await kit.film_status(plan["storyboard"], wait_s=30)
            assert status["status"] == "success", text_of(status)
            if data_of(status).get("finished"):
                break
        film = data_of(status)
        assert film["finished"] and film["done"] and stats(emu)["submits_total"] == 2
        assert abs(probe_mp4(film["video"]).duration_s - film["film_seconds"]) < 0.5 / 24

        again = data_of(await kit.plan_film(plan["storyboard"]))
        assert again["to_pay_usd"] == 0  # rendered takes are not paid for again
