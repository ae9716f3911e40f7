"""``/v1/veokit/...``: what veokit adds beside OpenAI's shape, for the studio and scripts.

    GET  /v1/veokit/spend                  the key's day (UTC): spent, queued and in flight, against its limits
    POST /v1/veokit/estimate               a create body → its price and provider; nothing is recorded
    POST /v1/veokit/videos/{id}/rerun      the same settings and seed again (optional new prompt or seed)

Cancel is ``POST /v1/videos/{id}/cancel`` (see :mod:`veokit.server.videos`); a video's settings for re-running
are in its ``veokit.request``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from veokit.models.request import GenerateRequest
from veokit.server.auth import Key
from veokit.server.models import CREATE_BODY, ERRORS, Estimate, Spend, Video
from veokit.server.requests import build_request, read_body, size_of
from veokit.server.state import service
from veokit.server.videos import video_response

router = APIRouter(prefix="/v1/veokit", tags=["veokit"])


class RerunRequest(BaseModel):
    prompt: str | None = Field(default=None, min_length=1, max_length=8000)
    seed: int | None = Field(default=None, ge=0, le=4294967295)


@router.get("/spend", response_model=Spend, responses=ERRORS, summary="The key's day: spend against its budget")
async def spend(request: Request, key: Key) -> dict[str, Any]:
    tenants = service(request).client.tenants
    usage, limits = await tenants.usage(key), tenants.limits(key)
    remaining = None if limits.daily_usd is None else round(max(0.0, limits.daily_usd - usage.total_usd), 4)
    return {
        "key": key.name,
        "day": usage.day,
        "spent_usd": usage.committed_usd,
        "queued_usd": usage.queued_usd,
        "total_usd": usage.total_usd,
        "budget_daily_usd": limits.daily_usd,
        "remaining_usd": remaining,
        "in_flight": usage.in_flight,
        "max_in_flight": limits.max_in_flight,
    }


@router.post(
    "/estimate",
    response_model=Estimate,
    responses=ERRORS,
    openapi_extra=CREATE_BODY,
    summary="Price a create body (validated as a create is); nothing is recorded",
)
async def estimate(request: Request, key: Key) -> dict[str, Any]:
    svc = service(request)
    body = await read_body(request)
    generate, provider = await build_request(body, svc.client.catalog, svc.fetcher)
    plan = svc.client.plan(generate, provider)
    usage, limits = await svc.client.tenants.usage(key), svc.client.tenants.limits(key)
    remaining = None if limits.daily_usd is None else round(max(0.0, limits.daily_usd - usage.total_usd), 4)
    price = plan.estimate
    return {
        "provider": plan.provider,
        "model": price.model,
        "seconds": price.seconds,
        "size": size_of(svc.client.catalog, plan.request.aspect_ratio, plan.request.resolution),
        "audio": price.audio,
        "estimate_usd": price.total_usd,
        "description": price.describe(),
        "fits_budget": remaining is None or price.total_usd <= remaining + 1e-9,
        "remaining_usd": remaining,
    }


@router.post(
    "/videos/{video_id}/rerun", response_model=Video, responses=ERRORS, summary="Make a video again, same settings"
)
async def rerun(request: Request, key: Key, video_id: str, body: RerunRequest | None = None) -> JSONResponse:
    svc = service(request)
    source = await svc.client.tenants.get(key, video_id)
    settings = GenerateRequest.model_validate(source.request).model_dump()
    if body is not None and body.prompt is not None:
        settings["prompt"] = body.prompt
    if body is not None and body.seed is not None:
        settings["seed"] = body.seed
    plan = svc.client.plan(GenerateRequest.build(**settings), source.provider)
    job = await svc.client.tenants.submit(key, plan, note=f"re-run of {source.id} for key {key.name}")
    svc.wake_worker()
    return video_response(svc, request, key, job)
