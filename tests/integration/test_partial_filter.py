"""A partial safety block (Veo with ``sampleCount`` > 1 answers some videos *and* ``raiMediaFilteredCount``),
end to end through veokit's Google providers against the emulator.

What veokit decides: the job **succeeds** with the videos that exist, is charged for those only (Google does not
bill blocked videos), and keeps a ``ContentFiltered`` note (count and reasons) as the succeeded job's ``error``,
also written to its event log. All samples blocked is still ``filtered`` at $0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from veokit import errors as E
from veokit.emulator import EmulatorServer
from veokit.models.catalog import default_catalog
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient

from .conftest import settings_for, stats


async def test_vertex_partial_filter_delivers_the_rest_and_charges_for_it(client: VeoClient) -> None:
    request = GenerateRequest(
        model="veo-3.1-fast-generate-001",
        prompt="a crowd at a concert [emulate:filtered:1]",
        duration_seconds=4,
        sample_count=3,
    )
    job = await client.generate(request)
    assert job.state is JobState.SUCCEEDED
    assert [r.index for r in job.results] == [0, 1]
    assert all(Path(r.path).is_file() and (r.width, r.height) == (1280, 720) for r in job.results)
    offer = default_catalog().find("vertex", "veo-3.1-fast-generate-001")
    assert offer is not None
    rate = offer.rate("720p", True)
    assert job.estimate_usd == pytest.approx(3 * 4 * rate)
    assert job.cost_usd == pytest.approx(2 * 4 * rate)  # the blocked sample is not charged
    assert job.error is not None
    assert (job.error["type"], job.error["status"], job.error["filtered_count"]) == (
        "ContentFiltered",
        "RAI_PARTIALLY_FILTERED",
        1,
    )
    assert "1 of 3 video(s) blocked" in job.error["message"] and job.error["reasons"]
    events = await client.events(job.id)
    assert "1 of 3 video(s) blocked" in events[-1].message


async def test_gemini_partial_filter(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, provider="gemini", gemini_api_key="test-key")
    async with VeoClient(s) as c:
        job = await c.generate(
            GenerateRequest(model="veo-2.0-generate-001", prompt="x [emulate:filtered:1]", sample_count=2)
        )
    assert job.state is JobState.SUCCEEDED and len(job.results) == 1
    assert job.error is not None and job.error["filtered_count"] == 1
    assert stats(emu)["submits_total"] == 1


async def test_all_samples_blocked_is_still_filtered_at_zero(client: VeoClient) -> None:
    with pytest.raises(E.ContentFiltered):
        await client.generate(GenerateRequest(prompt="x [emulate:filtered:4]", duration_seconds=4, sample_count=2))
    [job] = await client.list_jobs()
    assert (job.state, job.cost_usd, job.results) == (JobState.FILTERED, 0.0, [])
