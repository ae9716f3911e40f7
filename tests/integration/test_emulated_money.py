"""Emulated dollars are play money: recorded apart from real spend and never counted against the caps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from veokit.cli.main import app
from veokit.emulator import EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service import VeoClient

from .conftest import settings_for

FAST_4S = {"model": "veo-3.1-fast-generate-001", "duration_seconds": 4}  # $0.40 on Vertex's price list


def test_emulated_spend_never_blocks_a_real_job_and_costs_shows_them_apart(emu: EmulatorServer, tmp_path: Path) -> None:
    # A generous deadline: the in-process emulator renders on this (loaded, shared) machine.
    settings = settings_for(emu, tmp_path, budget_daily_usd=0.5, job_deadline_s=600.0)

    async def spend() -> None:
        async with VeoClient(settings) as veo:
            played = await veo.generate(GenerateRequest(prompt="an emulated scene", **FAST_4S), provider="emulator")
            assert played.state is JobState.SUCCEEDED and played.cost_usd == 0.40
            # $0.40 emulated + $0.40 real is over the $0.50 cap, if the emulated dollars counted.
            real = await veo.generate(GenerateRequest(prompt="a real scene", **FAST_4S), provider="vertex")
            assert real.state is JobState.SUCCEEDED and real.cost_usd == 0.40

    asyncio.run(spend())

    env = {
        "VEOKIT_DATABASE_URL": settings.database_url or "",
        "VEOKIT_DATA_DIR": str(tmp_path),
        "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
        "VEOKIT_BUDGET_DAILY_USD": "0.5",
    }
    result = CliRunner().invoke(app, ["costs", "--json"], env=env)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["real"]["spent_usd"] == 0.40 and doc["real"]["submits"] == 1
    assert doc["emulated"]["spent_usd"] == 0.40 and doc["emulated"]["submits"] == 1
    assert doc["committed_today_usd"] == 0.40  # what the daily cap is measured against
    assert {r["provider"]: r["emulated"] for r in doc["rows"]} == {"vertex": False, "emulator": True}
    table = CliRunner().invoke(app, ["costs"], env={**env, "COLUMNS": "200"}).stdout
    assert "real money: total spent $0.40" in table and "emulated: $0.40" in table
