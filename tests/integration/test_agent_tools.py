"""The shared tool logic on its own: durability across toolkits (processes), resume, extension, budgets, files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from veokit.agent.results import ToolResult, data_of, text_of
from veokit.agent.tools_core import Update, VideoToolkit
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.media.probe import Expectation, verify_mp4
from veokit.service.client import VeoClient

from .conftest import BEFORE_GEMINI_SHUTDOWN, settings_for, stats


async def wait(kit: VideoToolkit, job_id: str, timeout_s: float = 600) -> tuple[ToolResult, list[Update]]:
    updates: list[Update] = []
    result: ToolResult | None = None
    async for event in kit.wait_for_video(job_id, timeout_s):
        if isinstance(event, Update):
            updates.append(event)
        else:
            result = event
    assert result is not None
    return result, updates


@pytest.fixture
def kit(emu: EmulatorServer, tmp_path: Path) -> Iterator[VideoToolkit]:
    with VideoToolkit(VeoClient(settings_for(emu, tmp_path))) as k:
        yield k


@pytest.fixture
async def finished_job(kit: VideoToolkit) -> AsyncIterator[dict[str, Any]]:
    started = await kit.generate_video("a paper boat on a pond", duration_seconds=4)
    done, _ = await wait(kit, data_of(started)["job_id"])
    assert done["status"] == "success", text_of(done)
    yield data_of(done)


async def test_a_job_outlives_its_toolkit_and_is_finished_elsewhere_without_a_second_submit(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        settings = settings_for(emu, tmp_path)
        running = emu.state.holds.add()  # the operation runs until `first` is gone
        with VideoToolkit(VeoClient(settings)) as first:
            started = await first.generate_video("a kite over a beach", duration_seconds=4)
            job_id = data_of(started)["job_id"]
        emu.state.holds.release(running.id)
        # `first` is closed (its process "exited") while the job runs; another toolkit finds it in the store.
        with VideoToolkit(VeoClient(settings)) as second:
            status = data_of(await second.video_status(job_id))
            assert status["state"] == "running" and status["running_in_this_process"] is False
            assert "wait_for_video" in status["next"]
            done, updates = await wait(second, job_id)  # nobody else works on it: finished here
            assert data_of(done)["state"] == "succeeded", text_of(done)
            assert updates and updates[-1].percent == 100.0
            video = data_of(done)["videos"][0]
            verify_mp4(video["path"], Expectation(width=1280, height=720, duration_s=4.0, audio=True))
            again = await second.resume_video(job_id)
            assert again["status"] == "success" and "nothing to resume" in text_of(again)
        assert stats(emu)["submits_total"] == 1  # polled to the end, never paid for twice


async def test_resume_video_continues_an_orphaned_job(tmp_path: Path) -> None:
    with EmulatorServer(EmulatorConfig(latency_s=0.1, as_of=BEFORE_GEMINI_SHUTDOWN), port=0) as emu:
        settings = settings_for(emu, tmp_path)
        running = emu.state.holds.add()  # the operation runs until `first` is gone
        with VideoToolkit(VeoClient(settings)) as first:
            job_id = data_of(await first.generate_video("a lantern in fog", duration_seconds=4))["job_id"]
        emu.state.holds.release(running.id)
        with VideoToolkit(VeoClient(settings)) as second:
            resumed = await second.resume_video(job_id)
            assert resumed["status"] == "success", text_of(resumed)
            assert data_of(resumed)["running_in_this_process"] is True
            done, _ = await wait(second, job_id)
            assert data_of(done)["state"] == "succeeded", text_of(done)
        assert stats(emu)["submits_total"] == 1


async def test_extend_video_continues_a_finished_job_at_720p_8s(
    kit: VideoToolkit, emu: EmulatorServer, finished_job: dict[str, Any]
) -> None:
    started = await kit.extend_video(finished_job["job_id"], "the boat drifts under a bridge")
    assert started["status"] == "success", text_of(started)
    facts = data_of(started)
    assert facts["extends"] is True and facts["resolution"] == "720p" and facts["duration_seconds"] == 8
    assert facts["estimate_usd"] == pytest.approx(0.8)
    done, _ = await wait(kit, facts["job_id"])
    assert data_of(done)["state"] == "succeeded", text_of(done)
    assert data_of(done)["videos"][0]["height"] == 720
    assert stats(emu)["submits_total"] == 2


async def test_extend_needs_a_succeeded_job(kit: VideoToolkit, emu: EmulatorServer) -> None:
    missing = await kit.extend_video("job_nope", "more")
    assert missing["status"] == "error" and "job_nope not found" in text_of(missing)
    assert stats(emu)["submits_total"] == 0


async def test_a_session_budget_refuses_expensive_jobs_before_sending(emu: EmulatorServer, tmp_path: Path) -> None:
    with VideoToolkit(VeoClient(settings_for(emu, tmp_path)), max_cost_usd=0.5) as capped:
        refused = await capped.generate_video("a city at night", samples=2, duration_seconds=4)
        assert refused["status"] == "error" and text_of(refused).startswith("cost:")
        assert "$0.80" in text_of(refused) and "$0.50" in text_of(refused)
        priced = await capped.estimate_cost("a city at night", duration_seconds=4)
        assert data_of(priced)["total_usd"] == pytest.approx(0.4) and data_of(priced)["spent_usd"] == 0.0
    assert stats(emu)["submits_total"] == 0


async def test_download_copies_atomically_and_refuses_to_clobber(
    kit: VideoToolkit, finished_job: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "out" / "boat.mp4"
    first = await kit.download_video(finished_job["job_id"], str(target))
    assert first["status"] == "success" and data_of(first)["path"] == str(target.resolve())
    assert data_of(first)["duration_s"] == pytest.approx(4.0, abs=0.1)
    again = await kit.download_video(finished_job["job_id"], str(target))
    assert again["status"] == "error" and text_of(again).startswith("destination:")
    assert "overwrite" in text_of(again)
    wrong = await kit.download_video(finished_job["job_id"], str(tmp_path / "boat.mov"))
    assert wrong["status"] == "error" and ".mp4" in text_of(wrong)
    here = await kit.download_video(finished_job["job_id"])
    assert data_of(here)["path"] == finished_job["videos"][0]["path"]
    assert not list(target.parent.glob(".*partial"))


async def test_unknown_job_and_bad_arguments_are_one_line_errors(kit: VideoToolkit) -> None:
    for result in [
        await kit.video_status("job_missing"),
        (await wait(kit, "job_missing"))[0],
        await kit.list_videos(state="done"),
        await kit.generate_video("x", last_frame="/tmp/a.png"),
    ]:
        assert result["status"] == "error" and "\n" not in text_of(result), result
    assert text_of(await kit.list_videos(state="done")).startswith("state:")
    assert text_of(await kit.generate_video("x", last_frame="/tmp/a.png")).startswith("last_frame:")


async def test_a_filtered_job_is_an_error_that_says_it_was_not_charged(kit: VideoToolkit) -> None:
    started = await kit.generate_video("a street scene [emulate:filtered]", duration_seconds=4)
    assert started["status"] == "success", text_of(started)
    done, _ = await wait(kit, data_of(started)["job_id"])
    assert done["status"] == "error"
    assert "safety filter" in text_of(done) and "not charged" in text_of(done)
    status = data_of(await kit.video_status(data_of(started)["job_id"]))
    assert status["state"] == "filtered" and status["cost_usd"] == 0.0


async def test_the_tools_make_and_extend_an_omni_video_by_its_interaction(emu: EmulatorServer, tmp_path: Path) -> None:
    settings = settings_for(emu, tmp_path, provider="omni", gemini_api_key="test-key", omni_base_url=emu.base_url)
    with VideoToolkit(VeoClient(settings)) as kit:
        started = await kit.generate_video("a paper boat on a pond", resolution="360p", duration_seconds=4)
        assert started["status"] == "success", text_of(started)
        done, _ = await wait(kit, data_of(started)["job_id"])
        assert data_of(done)["state"] == "succeeded", text_of(done)
        extended = await kit.extend_video(data_of(done)["job_id"], "the boat drifts under a bridge")
        assert extended["status"] == "success", text_of(extended)
        facts = data_of(extended)
        assert (facts["resolution"], facts["duration_seconds"]) == ("360p", 8)  # Omni keeps the source's resolution
        more, _ = await wait(kit, facts["job_id"])
        assert data_of(more)["state"] == "succeeded", text_of(more)
        assert data_of(more)["videos"][0]["duration_s"] == pytest.approx(12, abs=0.1)  # the 4 s continued by 8 s
    [first, second] = sorted(emu.state.interactions.all(), key=lambda i: i.created_at)
    assert second.echo.get("previous_interaction_id") == first.id  # by reference: no upload, no download
    assert stats(emu)["submits_total"] == 2
