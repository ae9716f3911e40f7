"""veokit's Gemini API provider end to end (the protocol the LiteLLM /gemini passthrough speaks)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from veokit import errors as E
from veokit.emulator import EmulatorServer
from veokit.models.job import JobState
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient

from .conftest import settings_for, stats


async def test_gemini_generate_and_download(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, provider="gemini", gemini_api_key="test-key")
    async with VeoClient(s) as c:
        job = await c.generate(GenerateRequest(prompt="paper boats on a pond", duration_seconds=6))
    assert job.state is JobState.SUCCEEDED and job.model == "veo-3.1-fast-generate-preview"
    [r] = job.results
    assert (r.width, r.height, r.audio_codec) == (1280, 720, "aac") and abs(r.duration_s - 6) < 0.1
    assert r.remote_uri and "/files/" in r.remote_uri and "key=" not in r.remote_uri
    # The same URI without the key is refused, as Google refuses it (the seed's 403).
    file_url = f"{emu.base_url}/v1beta/files/{r.remote_uri.split('/files/')[1]}"
    assert httpx.get(file_url).status_code == 403
    assert stats(emu)["submits_total"] == 1


async def test_gemini_filtered_has_reasons(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, provider="gemini", gemini_api_key="test-key")
    async with VeoClient(s) as c:
        with pytest.raises(E.ContentFiltered) as exc:
            await c.generate(GenerateRequest(prompt="x [emulate:filtered]"))
    assert exc.value.reasons and exc.value.provider == "gemini"


async def test_gemini_bad_key(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, provider="gemini", gemini_api_key="AIzaWrongWrongWrongWrongWrong1234")
    async with VeoClient(s) as c:
        with pytest.raises(E.AuthenticationError) as exc:
            await c.generate(GenerateRequest(prompt="x"))
    assert "AIzaWrong" not in str(exc.value)


async def test_retired_gemini_model_refused_locally_by_default(emu: EmulatorServer, tmp_path: Path) -> None:
    s = settings_for(emu, tmp_path, provider="gemini", gemini_api_key="test-key", allow_retired=False)
    async with VeoClient(s) as c:
        with pytest.raises(E.ModelRetired, match="veo-3.1-fast-generate-001 on vertex"):
            await c.generate(GenerateRequest(prompt="x"))
    assert stats(emu)["submits_total"] == 0
