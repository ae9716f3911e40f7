"""The original design's bridge routes, for apps written against it:

    POST /api/veo3/generate         {prompt, image?, aspectRatio?, quality?: "fast"|"quality"}
                                    → {"success": true, "data": {"taskId", "status", "estimateUsd"}}
    GET  /api/veo3/status/{taskId}  → {"success": true, "data": {"status": "pending|processing|completed|failed",
                                       "progress", "videoUrl"?, "error"?}}

errors ``{"success": false, "error": {"code", "message", "retryable"}}``. ``image`` is base64 (bare or a data
URL) or an http(s) URL. ``videoUrl`` is a signed link of this service (:mod:`veokit.server.links`), never a
provider's URL: the design's UI leaked keys through those. The same key, tenancy, limits and planning as
``/v1/videos``: these routes only translate.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from veokit import errors as E
from veokit.server.auth import Key
from veokit.server.errors import ApiError, from_veokit, renamed
from veokit.server.links import content_url
from veokit.server.models import BRIDGE_ERRORS
from veokit.server.requests import Body, build_request
from veokit.server.shapes import STATUS, error_of, progress_of
from veokit.server.state import service

router = APIRouter(prefix="/api/veo3", tags=["bridge"])
BRIDGE_STATUS = {"queued": "pending", "in_progress": "processing", "completed": "completed", "failed": "failed"}
QUALITY_FAMILY = {"fast": "veo-3.1-fast", "quality": "veo-3.1"}
# /v1/videos' parameters (as errors name them) → this route's fields.
BRIDGE_FIELDS = {"input_reference": "image", "size": "aspectRatio", "model": "quality"}


class GenerateBody(BaseModel):
    prompt: str = Field(min_length=1, max_length=8000)
    image: str | None = Field(default=None, description="base64 (bare or data URL) or an http(s) URL")
    aspectRatio: Literal["16:9", "9:16"] | None = None
    quality: Literal["fast", "quality"] | None = None


@router.post("/generate", summary="The design's generate route", responses=BRIDGE_ERRORS)
async def generate(request: Request, key: Key, body: GenerateBody) -> JSONResponse:
    svc = service(request)
    # Errors take the design's shape in veokit.server.errors, by the route's path.
    fields: dict[str, Any] = {"prompt": body.prompt}
    if body.aspectRatio:
        fields["size"] = "1280x720" if body.aspectRatio == "16:9" else "720x1280"
    if body.quality:
        fields["model"] = QUALITY_FAMILY[body.quality]
    if body.image:
        image = body.image.strip()
        fields["input_reference"] = {
            "image_url": image if image.startswith(("http://", "https://", "data:")) else f"data:;base64,{image}"
        }
    try:
        generate_request, provider = await build_request(Body(fields), svc.client.catalog, svc.fetcher)
        plan = svc.client.plan(generate_request, provider)
    except E.VeokitError as exc:  # named as this route's body names its fields
        raise renamed(from_veokit(exc), BRIDGE_FIELDS) from None
    except ApiError as exc:
        raise renamed(exc, BRIDGE_FIELDS) from None
    job = await svc.client.tenants.submit(key, plan, note=f"bridge route for key {key.name}")
    svc.wake_worker()
    return JSONResponse(
        {"success": True, "data": {"taskId": job.id, "status": "pending", "estimateUsd": job.estimate_usd}}
    )


@router.get("/status/{task_id}", summary="The design's status route", responses=BRIDGE_ERRORS)
async def status(request: Request, key: Key, task_id: str) -> JSONResponse:
    svc = service(request)
    job = await svc.client.tenants.get(key, task_id)
    progress, _ = progress_of(svc.client, job)
    data: dict[str, Any] = {"taskId": job.id, "status": BRIDGE_STATUS[STATUS[job.state]], "progress": progress}
    if job.results:
        data["videoUrl"] = content_url(svc.client.tenants, str(request.base_url), key.id, job.id)
    error = error_of(job)
    if error is not None:
        data["error"] = error["message"]
    return JSONResponse({"success": True, "data": data})
