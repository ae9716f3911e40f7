"""Adding a provider is its module, its catalog rows and its emulator module: nothing else is edited.

A made-up provider, "acme", is written to a temporary directory as three pieces only, none of them in
veokit's tree: its module ``acme_provider.py`` (named by a ``veokit.providers`` entry point, as an installed
plugin would be; in the tree it would be ``src/veokit/providers/acme.py``, found by the package scan),
catalog rows, and ``acme_emulator.py``. In a fresh interpreter (veokit's settings class is built from the
providers it finds at import) it then has settings with their own environment variables, is a valid
failover target, has an option that steers ``--provider auto`` to it, is served by the emulator, and makes
a verified video end to end over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROVIDER = """
from pathlib import Path
from typing import Any

import httpx
from pydantic import AliasChoices, Field, SecretStr

from veokit.errors import ConfigError
from veokit.models.request import GenerateRequest
from veokit.providers.base import DownloadTarget, OfferLookup, OperationStatus, OpState, RemoteVideo
from veokit.providers.http import call_json, new_client
from veokit.providers.options import ProviderOption, to_wire
from veokit.providers.spec import ProviderSettings, ProviderSpec
from veokit.providers.task_http import public_download

OPTIONS = (ProviderOption("style", "choice", "the look", choices=("noir", "pastel")),)


class AcmeProvider:
    name = "acme"

    def __init__(self, key: str, base_url: str, client: httpx.AsyncClient) -> None:
        self._key, self.base_url, self.client = key, base_url, client

    async def _call(self, method: str, path: str, body: Any = None, paid: bool = False) -> Any:
        headers = {"Authorization": f"Key {self._key}"}
        doc, _ = await call_json(
            self.client, method, f"{self.base_url}{path}", provider=self.name, headers=headers, json=body,
            paid=paid, secrets=(self._key,),
        )
        return doc

    async def submit(self, request: GenerateRequest) -> str:
        body = {"prompt": request.prompt, "model": request.model, "seconds": request.duration_seconds}
        body.update(to_wire(self.name, OPTIONS, request.options))
        return str((await self._call("POST", "/acme/jobs", body, paid=True))["id"])

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        doc = await self._call("GET", f"/acme/jobs/{operation_name}")
        if not doc["done"]:
            return OperationStatus(OpState.RUNNING, operation_name)
        return OperationStatus(OpState.SUCCEEDED, operation_name, videos=[RemoteVideo(index=0, uri=doc["url"])])

    async def download_target(self, video: RemoteVideo) -> DownloadTarget:
        return public_download(self.name, video)

    async def aclose(self) -> None:
        await self.client.aclose()


class AcmeSettings(ProviderSettings):
    acme_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("VEOKIT_ACME_KEY", "acme_key", "ACME_KEY")
    )
    acme_base_url: str = "https://api.acme.example"


def build(s: AcmeSettings, offer_lookup: OfferLookup) -> AcmeProvider:
    if s.acme_key is None:
        raise ConfigError("acme: no credentials. Set ACME_KEY")
    return AcmeProvider(s.acme_key.get_secret_value(), s.acme_base_url, new_client())


SPEC = ProviderSpec(
    name="acme", title="Acme Video", catalog="acme", provider_class=AcmeProvider, build=build,
    settings=AcmeSettings, configured=lambda s: s.acme_key is not None, credentials="ACME_KEY",
    options=OPTIONS, rank=60, emulator="acme_emulator",
)
"""

EMULATOR = """
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.outcome import Outcome
from veokit.emulator.routing import emulator_state
from veokit.emulator.task_media import tmp_url
from veokit.emulator.tasks import Frame, Task


async def create(request: Request) -> Response:
    if request.headers.get("authorization") != "Key acme-test-key":
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    body = await request.json()
    if body.get("style", "noir") not in ("noir", "pastel"):
        return JSONResponse({"error": "style must be noir or pastel"}, status_code=422)
    state = emulator_state(request)
    now = state.clock.now()
    task = Task(
        id=uuid.uuid4().hex, provider="acme", model=body["model"], mode="t2v", credential="acme",
        created_at=now, ready_at=now + state.draw_latency(), outcome=Outcome.from_prompt(body["prompt"]),
        frame=Frame(body["prompt"], 1280, 720, float(body["seconds"]), True, 7), params=body,
    )
    state.tasks.start(task)
    state.stats_counters.submit("acme", task.model, None)
    return JSONResponse({"id": task.id})


async def get(request: Request) -> Response:
    state = emulator_state(request)
    task = state.tasks.get(request.path_params["job_id"], "acme")
    if task is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    result = state.tasks.resolve(task)
    if result is None:
        return JSONResponse({"done": False})
    return JSONResponse({"done": True, "url": tmp_url(request, result.tokens["main"])})


routes = [Route("/acme/jobs", create, methods=["POST"]), Route("/acme/jobs/{job_id}", get, methods=["GET"])]
"""

CATALOG_ROWS = """
[providers.acme]
default_model = "acme-1"
retention_days = 1

[[offer]]
provider = "acme"
model = "acme-1"
family = "veo-3.1-fast"
title = "Acme 1"
durations = [4, 8]
resolutions = ["720p"]
aspect_ratios = ["16:9"]
audio = "always"
features = ["text_to_video"]
sample_count = [1, 1]
latency_s = [1, 2, 30]
person_generation = {}
price = { "720p" = { audio = 0.50, silent = 0.50 } }
lifecycle = { status = "ga" }
"""

SCRIPT = """
import asyncio, json, sys, tomllib
from importlib import resources
from pathlib import Path

work = Path(sys.argv[1])

from veokit.config import PROVIDERS, load_settings
from veokit.emulator import EmulatorConfig, EmulatorServer
from veokit.models.catalog import Catalog
from veokit.models.request import GenerateRequest
from veokit.service.client import VeoClient
from veokit.service.routing import route

text = resources.files("veokit.models").joinpath("catalog.toml").read_text("utf-8")
catalog = Catalog(tomllib.loads(text + (work / "acme.toml").read_text()))


async def main() -> dict:
    with EmulatorServer(EmulatorConfig(latency_s=0.2), port=0) as emu:
        settings = load_settings(
            acme_base_url=emu.base_url, database_url=f"sqlite:///{work / 'jobs.db'}", data_dir=work,
            out_dir=work / "videos", poll_scale=0.01, job_deadline_s=900, failover="vertex,acme",
            vertex_project="p", vertex_access_token="t", provider="auto",
        )
        request = GenerateRequest(prompt="a paper boat", duration_seconds=4, options={"style": "pastel"})
        plan = route(request, catalog, settings)
        async with VeoClient(settings, catalog=catalog) as client:
            job = await client.generate(request)
            refused = ""
            try:
                client.estimate(request.model_copy(update={"options": {"style": "sepia"}}), provider="acme")
            except Exception as exc:
                refused = str(exc)
        [task] = emu.state.tasks.all()
        return {
            "providers": PROVIDERS,
            "configured": settings.credentials_present(),
            "chosen": plan.chosen.provider if plan.chosen else None,
            "reasons": {c.provider: list(c.reasons) for c in plan.candidates},
            "state": job.state.value, "provider": job.provider, "model": job.model,
            "video": [job.results[0].width, job.results[0].height, round(job.results[0].duration_s)],
            "sent": task.params, "refused": refused,
        }


print(json.dumps(asyncio.run(main())))
"""


def test_a_provider_is_its_module_its_catalog_rows_and_its_emulator_module(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    (plugins / "acme_plugin-0.1.dist-info").mkdir(parents=True)
    (plugins / "acme_plugin-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\n")
    (plugins / "acme_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[veokit.providers]\nacme = acme_provider\n"
    )
    (plugins / "acme_provider.py").write_text(textwrap.dedent(PROVIDER))
    (plugins / "acme_emulator.py").write_text(textwrap.dedent(EMULATOR))
    (tmp_path / "acme.toml").write_text(CATALOG_ROWS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VEOKIT_", "GEMINI_", "GOOGLE_", "ACME_"))}
    env.update({"ACME_KEY": "acme-test-key", "VEOKIT_CONFIG": str(tmp_path / "none.toml"), "PYTHONPATH": str(plugins)})
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["providers"] == [
        "vertex",
        "omni-vertex",
        "omni",
        "gemini",
        "kie",
        "fal",
        "replicate",
        "acme",
        "emulator",
    ]
    assert out["configured"] == ["vertex", "omni-vertex", "acme"]  # ACME_KEY, the variable its settings declare
    assert out["chosen"] == "acme" and out["reasons"]["vertex"] == ["does not take option style"]
    made = (out["state"], out["provider"], out["model"], out["video"])
    assert made == ("succeeded", "acme", "acme-1", [1280, 720, 4])
    assert out["sent"] == {"prompt": "a paper boat", "model": "acme-1", "seconds": 4, "style": "pastel"}
    assert "options.style: 'sepia' is not one of its values (allowed: noir, pastel)" in out["refused"]
