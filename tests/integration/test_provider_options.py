"""Provider options end to end, over real HTTP against the emulator: from the library, the CLI, batch files and
the agent tools to the wire, and refused by name (before any paid call) where the provider does not know them."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from veokit import errors as E
from veokit.agent.results import data_of, text_of
from veokit.agent.tools_core import VideoToolkit
from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest, ImageInput
from veokit.providers import spec as spec_module
from veokit.service.batch import read_batch
from veokit.service.client import VeoClient
from veokit.service.routing import route

from .conftest import add_faults, settings_for, stats
from .test_cli import veokit

PROMPT = "a red fox trotting through snow"  # shared with the provider tests: renders are cached
SEED = 12345
DEADLINE_S = 900  # what these tests check is the wire, not timing: a loaded machine may render slowly


def req(**kw: Any) -> GenerateRequest:
    return GenerateRequest.model_validate({"prompt": PROMPT, "seed": SEED, "duration_seconds": 8, **kw})


def vertex(emu: EmulatorServer, tmp_path: Path, **kw: Any) -> Settings:
    return settings_for(emu, tmp_path, **{"job_deadline_s": DEADLINE_S, **kw})


def resellers(emu: EmulatorServer, tmp_path: Path, **kw: Any) -> Settings:
    return vertex(
        emu,
        tmp_path,
        kie_api_key="test-kie-key",
        kie_base_url=emu.base_url,
        fal_key="test-fal-key",
        fal_base_url=emu.base_url,
        replicate_api_token="test-replicate-token",
        replicate_base_url=emu.base_url,
        **kw,
    )


def operations(emu: EmulatorServer) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = httpx.get(f"{emu.base_url}/_emulator/operations").json()["operations"]
    return ops


def tasks(emu: EmulatorServer) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{emu.base_url}/_emulator/tasks").json()["tasks"]
    return found


def png() -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (1280, 720), (30, 120, 200)).save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


# -- the library -------------------------------------------------------------------------------------------
async def test_vertex_options_reach_the_wire(emu: EmulatorServer, tmp_path: Path) -> None:
    async with VeoClient(vertex(emu, tmp_path)) as client:
        job = await client.generate(req(options={"compressionQuality": "LOSSLESS"}), provider="vertex")
        assert job.request["options"] == {"compressionQuality": "lossless"}  # canonical, as recorded
        await client.generate(req(image=png(), options={"resizeMode": "pad"}), provider="vertex")
    params = [op["parameters"] for op in operations(emu)]
    assert [p.get("compressionQuality") for p in params] == ["lossless", None]
    assert [p.get("resizeMode") for p in params] == [None, "pad"]


async def test_an_option_the_provider_does_not_know_is_refused_before_paying(
    emu: EmulatorServer, tmp_path: Path
) -> None:
    async with VeoClient(resellers(emu, tmp_path)) as client:
        with pytest.raises(E.InvalidRequest) as info:
            await client.submit(req(options={"watermark": "ACME"}), provider="vertex")
        assert info.value.field == "options.watermark"
        assert info.value.allowed == ["compressionQuality", "resizeMode"]
        with pytest.raises(E.InvalidRequest, match="options.resizeMode: only applies to image to video"):
            client.estimate(req(options={"resizeMode": "crop"}), provider="vertex")
        with pytest.raises(E.InvalidRequest, match="replicate has no option 'auto_fix' \\(it takes no options\\)"):
            await client.submit(req(options={"auto_fix": False}), provider="replicate")
        with pytest.raises(E.InvalidRequest, match="options.safety_tolerance: '7' is not one of its values"):
            await client.submit(req(options={"safety_tolerance": "7"}), provider="fal")
        assert await client.list_jobs() == []
    assert stats(emu)["submits_total"] == 0 and tasks(emu) == []


async def test_kie_options_and_the_deprecated_fallback(
    emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spec_module, "_warned", set())  # the warning is once per process
    async with VeoClient(resellers(emulator, tmp_path)) as client:
        await client.generate(req(options={"enableTranslation": "false", "watermark": "ACME"}), provider="kie")
        with caplog.at_level(logging.WARNING, logger="veokit.providers"):
            first = await client.generate(req(options={"enableFallback": True}), provider="kie")
        assert any("enableFallback is deprecated" in r.getMessage() for r in caplog.records)
        extended = GenerateRequest(
            prompt="the fox keeps running",
            video={"uri": f"kie-task://{first.operation_name}"},
            options={"watermark": "ACME"},
        )
        await client.generate(extended, provider="kie")
        with pytest.raises(E.InvalidRequest, match="enableTranslation: kie does not take it with extension"):
            await client.submit(extended.model_copy(update={"options": {"enableTranslation": False}}), provider="kie")
    sent = {t["id"]: (t["mode"], t["params"]) for t in tasks(emulator)}
    extend = [p for mode, p in sent.values() if mode == "extend"]
    generate = [p for mode, p in sent.values() if mode != "extend"]
    assert extend == [
        {"taskId": first.operation_name, "prompt": "the fox keeps running", "model": "fast", "watermark": "ACME"}
    ]
    assert sum(p.get("enableTranslation") is False and p.get("watermark") == "ACME" for p in generate) == 1
    assert sum(p.get("enableFallback") is True for p in generate) == 1


async def test_fal_options_reach_the_wire_as_fal_types(emulator: EmulatorServer, tmp_path: Path) -> None:
    async with VeoClient(resellers(emulator, tmp_path)) as client:
        await client.generate(req(options={"auto_fix": False, "safety_tolerance": 2}), provider="fal")
    [task] = tasks(emulator)
    assert task["provider"] == "fal" and task["state"] == "succeeded"
    assert task["params"]["auto_fix"] is False and task["params"]["safety_tolerance"] == "2"


def test_the_emulator_checks_options_as_the_services_do(emulator: EmulatorServer, emu_http: httpx.Client) -> None:
    model = "veo-3.1-fast-generate-001"
    body = {"instances": [{"prompt": PROMPT}], "parameters": {"compressionQuality": "medium"}}
    r = emu_http.post(
        f"/v1/projects/p/locations/us-central1/publishers/google/models/{model}:predictLongRunning",
        json=body,
        headers={"Authorization": "Bearer test-token"},
    )
    assert r.status_code == 400 and "Unsupported compressionQuality: medium" in r.json()["error"]["message"]
    body["parameters"] = {"resizeMode": "PAD"}  # the SDK's upper case is accepted
    r = emu_http.post(
        f"/v1/projects/p/locations/us-central1/publishers/google/models/{model}:predictLongRunning",
        json=body,
        headers={"Authorization": "Bearer test-token"},
    )
    assert r.status_code == 200, r.text
    r = emu_http.post(
        "/v1beta/models/veo-3.1-fast-generate-preview:predictLongRunning",
        json={"instances": [{"prompt": PROMPT}], "parameters": {"compressionQuality": "optimized"}},
        headers={"x-goog-api-key": "test-key"},
    )
    assert r.status_code == 400 and "not supported in Gemini API" in r.json()["error"]["message"]
    r = emu_http.post(
        "/api/v1/veo/generate",
        json={"prompt": PROMPT, "enableTranslation": "no"},
        headers={"Authorization": "Bearer test-kie-key"},
    )
    assert r.json()["code"] == 422 and "enableTranslation must be a boolean" in r.json()["msg"]
    r = emu_http.post(
        "/fal-ai/veo3.1/fast",
        json={"prompt": PROMPT, "safety_tolerance": 4},
        headers={"Authorization": "Key test-fal-key"},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "safety_tolerance"]
    assert tasks(emulator) == []


# -- auto and failover ---------------------------------------------------------------------------------------
def test_auto_never_picks_a_provider_without_the_option(emu: EmulatorServer, tmp_path: Path) -> None:
    s = resellers(emu, tmp_path)
    today = dt.date(2026, 11, 21)
    plan = route(req(options={"watermark": "ACME"}), default_catalog(), s, today=today)
    assert plan.chosen is not None and plan.chosen.provider == "kie"
    reasons = {c.provider: c.reasons for c in plan.candidates}
    assert reasons["vertex"] == ("does not take option watermark",)
    assert (
        "does not take option watermark" in reasons["fal"] and "does not take option watermark" in reasons["replicate"]
    )
    plan = route(req(options={"safety_tolerance": "9"}), default_catalog(), s, today=today)
    assert plan.chosen is None
    assert (
        "options.safety_tolerance: '9' is not one of its values"
        in dict((c.provider, c.reasons) for c in plan.candidates)["fal"]
    )
    with pytest.raises(E.ConfigError, match="no provider can run this veo-3.1-fast request"):
        plan.resolved()


async def test_failover_skips_a_provider_that_lacks_the_requests_options(emu: EmulatorServer, tmp_path: Path) -> None:
    s = vertex(emu, tmp_path, gemini_api_key="test-key", failover="vertex,gemini", retry_attempts=2)
    add_faults(emu, {"route": "submit", "times": 50, "fault": {"kind": "http", "status": 503}})
    async with VeoClient(s) as client:
        with pytest.raises(E.ServerError):
            await client.generate(req(duration_seconds=4, options={"compressionQuality": "lossless"}))
        [job] = await client.list_jobs()
    assert job.provider == "vertex"  # gemini takes no compressionQuality: not the same request there
    assert stats(emu)["submits_total"] == 0


# -- batch files, the CLI and the agent tools ------------------------------------------------------------------
def test_batch_lines_carry_options_as_an_object_or_option_columns(tmp_path: Path) -> None:
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text(
        '{"prompt": "a", "provider": "kie", "options": {"watermark": "ACME", "enableTranslation": false}}\n'
    )
    [item] = read_batch(jsonl)
    assert item.provider == "kie" and item.request.options == {"watermark": "ACME", "enableTranslation": False}
    csv = tmp_path / "b.csv"
    csv.write_text("prompt,provider,option.enableTranslation,Option.watermark\na,kie,false,ACME\nb,fal,,\n")
    first, second = read_batch(csv)
    assert first.request.options == {"enableTranslation": "false", "watermark": "ACME"}  # typed by the provider
    assert second.request.options == {}
    both = tmp_path / "c.jsonl"
    both.write_text('{"prompt": "a", "options": {"watermark": "A"}, "option.watermark": "B"}\n')
    with pytest.raises(E.InvalidRequest, match="c.jsonl:1: options.watermark: given twice"):
        read_batch(both)


def test_cli_option_is_validated_before_anything_is_sent(emu: EmulatorServer, tmp_path: Path) -> None:
    env = {
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "p",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
    }
    p = veokit(tmp_path, "generate", PROMPT, "--provider", "vertex", "--option", "watermark=ACME", "--dry-run", **env)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "options.watermark: vertex has no option 'watermark'" in lines[0]
    assert "compressionQuality, resizeMode" in lines[0] and "Traceback" not in p.stderr
    p = veokit(tmp_path, "generate", PROMPT, "--provider", "vertex", "--option", "oops", **env)
    assert p.returncode == 2 and "--option: 'oops' is not NAME=VALUE" in p.stderr
    p = veokit(tmp_path, "enqueue", PROMPT, "--provider", "vertex", "--option", "resizeMode=pad", **env)
    assert p.returncode == 2 and "only applies to image to video" in p.stderr
    batch = tmp_path / "shots.jsonl"
    batch.write_text('{"prompt": "a"}\n{"prompt": "b", "options": {"auto_fix": true}}\n')
    p = veokit(tmp_path, "batch", str(batch), "--provider", "vertex", "--no-run", **env)
    assert p.returncode == 2 and "shots.jsonl:2: options.auto_fix: vertex has no option 'auto_fix'" in p.stderr
    assert json.loads(veokit(tmp_path, "jobs", "list", "--json").stdout) == []
    assert stats(emu)["submits_total"] == 0


def test_cli_options_reach_the_wire(emu: EmulatorServer, tmp_path: Path) -> None:
    env = {
        "VEOKIT_VERTEX_BASE_URL": emu.base_url,
        "VEOKIT_VERTEX_PROJECT": "p",
        "VEOKIT_VERTEX_ACCESS_TOKEN": "test-token",
        "VEOKIT_POLL_SCALE": "0.01",
        "VEOKIT_RATE_LIMIT": "off",
        "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_S),
    }
    p = veokit(
        tmp_path,
        "generate",
        PROMPT,
        "-d",
        "4",
        "--provider",
        "vertex",
        "--option",
        "compressionQuality=lossless",
        "--out",
        str(tmp_path / "out"),
        "--json",
        **env,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["request"]["options"] == {"compressionQuality": "lossless"}
    [op] = operations(emu)
    assert op["parameters"]["compressionQuality"] == "lossless"


async def test_agent_tools_take_options(emu: EmulatorServer, tmp_path: Path) -> None:
    with VideoToolkit(VeoClient(vertex(emu, tmp_path))) as kit:
        assert "kie: enableTranslation" in kit_schema_text(kit)
        refused = await kit.estimate_cost("a fox", options={"watermark": "ACME"})
        assert refused["status"] == "error" and "options.watermark: vertex has no option" in text_of(refused)
        priced = await kit.estimate_cost("a fox", duration_seconds=4, options={"compressionQuality": "lossless"})
        assert priced["status"] == "success", text_of(priced)
        started = await kit.generate_video(PROMPT, duration_seconds=4, options={"compressionQuality": "lossless"})
        assert started["status"] == "success", text_of(started)
        job_id = data_of(started)["job_id"]
        events = [event async for event in kit.wait_for_video(job_id, 600)]
        assert data_of(events[-1])["state"] == "succeeded", events[-1]
    assert [op["parameters"].get("compressionQuality") for op in operations(emu)] == ["lossless"]


def kit_schema_text(kit: VideoToolkit) -> str:
    """What a model reads about the options parameter (its annotation's description)."""
    import inspect
    from typing import get_args, get_type_hints

    hints = get_type_hints(type(kit).generate_video, include_extras=True)
    assert "options" in inspect.signature(kit.generate_video).parameters
    return str(get_args(hints["options"])[1])
