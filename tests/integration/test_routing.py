"""--provider auto: the cheapest provider with credentials that supports every feature of the request, the
reasons for every exclusion, the preference as a tie-break, and the dry run through the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from veokit import errors as E
from veokit.config import Settings
from veokit.emulator import EmulatorServer
from veokit.models.catalog import default_catalog
from veokit.models.request import GenerateRequest, ImageInput, VideoInput
from veokit.service.client import VeoClient
from veokit.service.routing import Route, route

from .conftest import DEADLINE_NOT_UNDER_TEST_S

TODAY = dt.date(2026, 11, 21)  # after the Gemini API's Veo shutdown
CREDS: dict[str, dict[str, str]] = {
    "vertex": {"vertex_project": "p", "vertex_access_token": "t"},
    "gemini": {"gemini_api_key": "g"},
    "kie": {"kie_api_key": "k"},
    "fal": {"fal_key": "f"},
    "replicate": {"replicate_api_token": "r"},
}
VEOKIT = [sys.executable, "-m", "veokit.cli.main"]
_FOREIGN_ENV = ("VEOKIT_", "GEMINI_", "GOOGLE_", "KIE_", "FAL_", "REPLICATE_")


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with no credentials from the developer's environment."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_ENV)}
    full.update(
        {
            "VEOKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'jobs.db'}",
            "VEOKIT_DATA_DIR": str(tmp_path),
            "VEOKIT_CONFIG": str(tmp_path / "none.toml"),
            "VEOKIT_POLL_SCALE": "0.01",
            "VEOKIT_JOB_DEADLINE_S": str(DEADLINE_NOT_UNDER_TEST_S),
            "COLUMNS": "220",
            **env,
        }
    )
    return subprocess.run([*VEOKIT, *args], capture_output=True, text=True, timeout=120, env=full, cwd=tmp_path)


def settings(*providers: str, **kw: Any) -> Settings:
    merged: dict[str, Any] = {}
    for p in providers:
        merged.update(CREDS[p])
    return Settings(**merged, **kw)


def plan(request: GenerateRequest, *providers: str, **kw: Any) -> Route:
    return route(request, default_catalog(), settings(*providers, **kw), today=TODAY)


def by_provider(r: Route) -> dict[str, Any]:
    return {c.provider: c for c in r.candidates}


def png() -> ImageInput:
    buf = io.BytesIO()
    Image.new("RGB", (64, 36), "red").save(buf, "PNG")
    return ImageInput.from_bytes(buf.getvalue())


def test_cheapest_provider_with_credentials_wins() -> None:
    request = GenerateRequest(prompt="rain", aspect_ratio="9:16", resolution="1080p")
    r = plan(request, "vertex", "kie", "fal", "replicate")
    assert r.chosen is not None and (r.chosen.provider, r.chosen.model) == ("kie", "veo3_fast")
    prices = {c.provider: c.estimate.total_usd for c in r.candidates if c.estimate}
    assert prices == {"kie": 0.325, "vertex": 0.96, "fal": 1.2, "replicate": 1.2, "gemini": 0.96}
    assert r.verdict(r.chosen) == "chosen: cheapest"
    assert "retired 2026-10-22" in r.verdict(by_provider(r)["gemini"])
    without_kie = plan(request, "vertex", "fal")
    assert without_kie.chosen is not None and without_kie.chosen.provider == "vertex"
    assert "no credentials (set KIE_API_KEY)" in without_kie.verdict(by_provider(without_kie)["kie"])


@pytest.mark.parametrize(
    ("request_kw", "chosen", "excluded"),
    [
        (
            {"reference_images": (png(),)},
            "kie",
            {"fal": "feature unsupported: reference images", "replicate": "feature unsupported: reference images"},
        ),
        ({"negative_prompt": "text"}, "vertex", {"kie": "feature unsupported: negative prompt"}),
        (
            {"model": "veo-3.1", "video": VideoInput(data=b"mp4")},
            "vertex",
            {  # tied with fal at $3.20
                "replicate": "feature unsupported: extension",
                "kie": "feature unsupported: extension",
            },
        ),
        ({"video": VideoInput(data=b"mp4")}, "vertex", {"kie": "only videos this provider made can be extended"}),
        (
            {"video": VideoInput(uri="kie-task://abc123")},
            "kie",
            {"vertex": "can only be extended where they were made", "fal": "can only be extended where they were made"},
        ),
        (
            {"aspect_ratio": "9:16", "model": "veo-3.1", "reference_images": (png(),)},
            "vertex",
            {"replicate": "reference images is only available at", "kie": "feature unsupported: reference images"},
        ),
    ],
)
def test_a_feature_only_some_have_excludes_the_others_with_the_reason(
    request_kw: dict[str, Any], chosen: str, excluded: dict[str, str]
) -> None:
    r = plan(GenerateRequest(prompt="x", **request_kw), "vertex", "kie", "fal", "replicate")
    assert r.chosen is not None and r.chosen.provider == chosen, [(c.provider, c.reasons) for c in r.candidates]
    for provider, reason in excluded.items():
        c = by_provider(r)[provider]
        assert not c.eligible and any(reason in why for why in c.reasons), (provider, c.reasons)


def test_auto_never_swaps_veo_for_omni_but_shows_it_as_an_alternative() -> None:
    veo = plan(GenerateRequest(prompt="rain", resolution="1080p"), "vertex", "gemini")
    assert veo.chosen is not None and veo.chosen.provider == "vertex"  # $0.96, though Omni is cheaper here
    assert "does not sell veo-3.1-fast" in veo.verdict(by_provider(veo)["omni"])
    alternatives = {c.model: c for c in veo.alternatives}
    omni = alternatives["gemini-omni-1.2-flash"]  # on Vertex: the same price, and first in veokit's order
    assert omni.provider == "omni-vertex" and omni.eligible and omni.estimate is not None
    assert omni.estimate.rate_per_second == pytest.approx(8688 * 17.5e-6)  # 1080p tokens a second
    assert [c.estimate.total_usd for c in veo.alternatives if c.estimate] == sorted(
        c.estimate.total_usd for c in veo.alternatives if c.estimate
    )
    negative = plan(GenerateRequest(prompt="rain", negative_prompt="text"), "vertex", "gemini")
    assert not [c for c in negative.alternatives if c.model.startswith("gemini-omni")]  # Omni has no such field
    both = plan(GenerateRequest(prompt="rain", model="gemini-omni-1.2-flash", duration_seconds=12), "vertex", "gemini")
    assert both.family == "gemini-omni-1.2-flash" and both.chosen is not None and both.chosen.provider == "omni-vertex"
    assert "same price" in both.verdict(by_provider(both)["omni"])  # the default order decides the tie
    only_key = plan(GenerateRequest(prompt="rain", model="gemini-omni-1.2-flash"), "gemini")
    assert only_key.chosen is not None and only_key.chosen.provider == "omni"
    assert "does not sell gemini-omni-1.2-flash" in both.verdict(by_provider(both)["kie"])


def test_preference_breaks_ties_and_never_beats_price() -> None:
    request = GenerateRequest(prompt="x")  # fal and Replicate both $1.20 for veo-3.1-fast, 8 s with audio
    default = plan(request, "fal", "replicate")
    assert default.chosen is not None and default.chosen.provider == "fal"
    assert "default order breaks the tie" in default.verdict(default.chosen)
    preferred = plan(request, "fal", "replicate", provider_preference="replicate,fal")
    assert preferred.chosen is not None and preferred.chosen.provider == "replicate"
    cheaper = plan(request, "fal", "kie", provider_preference="fal")
    assert cheaper.chosen is not None and cheaper.chosen.provider == "kie"


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("veo3_fast", "veo-3.1-fast"),
        ("veo-3.1-fast-generate-001", "veo-3.1-fast"),
        ("veo-3.1-fast", "veo-3.1-fast"),
        ("fal-ai/veo3.1", "veo-3.1"),
        ("google/veo-3.1", "veo-3.1"),
        (None, "veo-3.1-fast"),
    ],
)
def test_any_providers_model_id_or_the_family_names_the_request(model: str | None, family: str) -> None:
    r = plan(GenerateRequest(prompt="x", model=model), "kie")
    assert r.family == family
    with pytest.raises(E.ModelNotFound):
        plan(GenerateRequest(prompt="x", model="veo-9"), "kie")


async def test_client_resolves_auto_and_explains_when_nothing_fits(tmp_path: Path) -> None:
    s = settings("kie", "vertex", database_url=f"sqlite:///{tmp_path / 'j.db'}", provider="auto")
    client = VeoClient(s)
    chosen = client.plan(GenerateRequest(prompt="x", model="veo-3.1-fast-generate-001"))
    assert (chosen.provider, chosen.request.model, chosen.offer.model) == ("kie", "veo3_fast", "veo3_fast")
    assert chosen.route is not None and chosen.route.chosen is not None and chosen.route.chosen.provider == "kie"
    assert chosen.estimate == chosen.route.chosen.estimate
    assert client.plan(GenerateRequest(prompt="x", negative_prompt="blur"), "auto").provider == "vertex"
    with pytest.raises(E.ConfigError) as exc:
        client.plan(GenerateRequest(prompt="x", negative_prompt="blur", resolution="4k", duration_seconds=4), "auto")
    assert "kie: " in exc.value.message and "no credentials" in exc.value.message
    named = client.plan(GenerateRequest(prompt="x", model="veo-3.1-fast"), "vertex")
    assert named.route is None
    offer = named.offer
    assert offer.model == "veo-3.1-fast-generate-001"  # a family name resolves to the provider's own id


async def test_auto_generates_on_the_chosen_provider(emulator: EmulatorServer, tmp_path: Path) -> None:
    s = Settings(
        kie_api_key="test-kie-key",
        kie_base_url=emulator.base_url,
        fal_key="test-fal-key",
        fal_base_url=emulator.base_url,
        database_url=f"sqlite:///{tmp_path / 'j.db'}",
        data_dir=tmp_path,
        out_dir=tmp_path / "v",
        poll_scale=0.01,
        job_deadline_s=DEADLINE_NOT_UNDER_TEST_S,
    )
    async with VeoClient(s) as client:
        job = await client.generate(
            GenerateRequest(prompt="a red fox trotting through snow", seed=12345), provider="auto"
        )
    assert (job.provider, job.model, job.cost_usd) == ("kie", "veo3_fast", pytest.approx(0.30))


def test_cli_dry_run_prices_every_provider_and_names_the_choice(tmp_path: Path) -> None:
    env = {"KIE_API_KEY": "k", "FAL_KEY": "f", "VEOKIT_VERTEX_PROJECT": "p", "VEOKIT_VERTEX_ACCESS_TOKEN": "t"}
    p = cli(
        tmp_path,
        "generate",
        "rain on a neon street",
        "--provider",
        "auto",
        "--aspect",
        "9:16",
        "--resolution",
        "1080p",
        "--duration",
        "8",
        "--dry-run",
        **env,
    )
    assert p.returncode == 0, p.stderr
    # Piped, the table is tab-separated: provider, model, price, decision.
    rows = {line.split("\t")[0].strip(): line for line in p.stdout.splitlines() if line.count("\t") >= 3}
    assert "$0.33 (65 credits)" in rows["kie"] and "chosen: cheapest" in rows["kie"]
    assert "$0.96" in rows["vertex"] and "eligible" in rows["vertex"]
    assert "$1.20" in rows["fal"] and "$1.20" in rows["replicate"] and "REPLICATE_API_TOKEN" in rows["replicate"]
    assert "retired" in rows["gemini"]
    assert "→ kie (veo3_fast)" in p.stdout and "nothing was sent" in p.stdout
    ref = tmp_path / "ref.png"
    ref.write_bytes(png().data)
    p = cli(tmp_path, "generate", "x", "--provider", "auto", "--ref", str(ref), "--dry-run", "--json", **env)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    reasons = {c["provider"]: c["reasons"] for c in doc["candidates"]}
    assert doc["provider"] == "kie" and reasons["kie"] == []
    assert "feature unsupported: reference images" in reasons["fal"]
    assert not list(tmp_path.glob("**/*.mp4"))
