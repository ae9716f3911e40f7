"""The studio: a static page at ``/`` (HTML, CSS and one JavaScript module; no build step) over the same API
any client uses, and ``GET /v1/veokit/models``, the catalog as the studio's form needs it.

The page keeps the key in the browser (``localStorage``) and sends it as a Bearer header, like every client;
file links in video objects are signed, so ``<video src>`` and downloads work without it. Everything it shows
comes from the API: prices from ``/v1/veokit/estimate`` before submitting, progress from the SSE stream,
spend from ``/v1/veokit/spend``.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from veokit.config import AUTO
from veokit.models.catalog import Catalog, Offer
from veokit.providers.registry import catalog_key
from veokit.server.auth import Key
from veokit.server.models import ERRORS
from veokit.server.state import service

ASSETS = resources.files("veokit.server") / "studio_assets"
# The page is the app shell: never cached, so a new veokit version's page is what a reload shows.
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(tags=["studio"])


class StudioModel(BaseModel):
    provider: str
    model: str
    title: str
    status: str
    label: str
    durations: list[int]
    sizes: dict[str, str]  # "1280x720" -> "16:9 720p"
    audio: str
    max_reference_images: int
    last_frame: bool
    extension: bool
    rate_usd_per_s: dict[str, float]  # "720p" -> with audio when the model makes audio, else silent


class StudioModels(BaseModel):
    default_provider: str | None
    default_model: str | None  # what a create without ``model`` uses
    models: list[StudioModel]


def _sizes(catalog: Catalog, offer: Offer) -> dict[str, str]:
    out: dict[str, str] = {}
    for resolution in offer.resolutions:
        for aspect in offer.resolution_aspects.get(resolution, offer.aspect_ratios):
            try:
                w, h = catalog.dims(resolution, aspect)
            except KeyError:
                continue
            out[f"{w}x{h}"] = f"{aspect} {resolution}"
    return out


def studio_models(catalog: Catalog, provider: str | None, today: dt.date) -> list[StudioModel]:
    """The models a create may name: the configured provider's (every provider's when it routes ``auto``),
    retired ones left out."""
    # A provider may sell another's rows (the emulator sells Vertex's): list those, under the provider's name.
    rows = None if provider in (None, AUTO) else catalog_key(provider)
    models = []
    for o in catalog.offers:
        if (rows is not None and o.provider != rows) or o.lifecycle.is_retired(today):
            continue
        models.append(
            StudioModel(
                provider=o.provider if provider in (None, AUTO) else provider,
                model=o.model,
                title=o.title,
                status=o.lifecycle.status,
                label=o.lifecycle.label(today),
                durations=o.durations,
                sizes=_sizes(catalog, o),
                audio=o.audio,
                max_reference_images=o.max_reference_images,
                last_frame="first_last_frame" in o.features,
                extension="extension" in o.features,
                rate_usd_per_s={r: o.rate(r, o.audio != "none") for r in o.resolutions if r in o.price},
            )
        )
    return models


@router.get(
    "/v1/veokit/models",
    response_model=StudioModels,
    responses=ERRORS,
    tags=["veokit"],
    summary="The models a create may name, with their sizes, durations and prices",
)
async def list_models(request: Request, key: Key) -> StudioModels:
    svc = service(request)
    provider = svc.settings.provider
    catalog = svc.client.catalog
    rows = catalog_key(provider) if provider not in (None, AUTO) else None
    concrete = rows is not None and bool(catalog.models_for(rows))
    return StudioModels(
        default_provider=provider,
        default_model=(svc.settings.model or catalog.default_model(rows)) if concrete and rows else None,
        models=studio_models(catalog, provider, dt.datetime.now(dt.UTC).date()),
    )


@router.get("/", include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse((ASSETS / "index.html").read_text(encoding="utf-8"), headers=NO_STORE)


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(str(ASSETS / "favicon.svg"), media_type="image/svg+xml")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/studio", StaticFiles(directory=str(ASSETS)), name="studio")
