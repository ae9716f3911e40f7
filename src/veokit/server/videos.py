"""``/v1/videos``: OpenAI's Videos API, so the official ``openai`` SDK (``base_url=http://host:port/v1``) and any
app written for it use Veo through veokit unchanged.

Each route is request parsing, then one service-layer call: ``plan`` (validation and price; a bad request is a
400 and nothing is recorded), ``tenants.submit`` (recorded as the key's, after its limits), ``tenants.get`` /
``list`` / ``delete``, ``asset`` (the file), ``cancel``. Beyond OpenAI's shape: ``POST /v1/videos/{id}/cancel``
(as OpenAI's other APIs cancel), and ``index`` on content for a request of several videos.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from veokit import errors as E
from veokit.models.job import Job
from veokit.models.request import GenerateRequest
from veokit.server.auth import Key, OptionalKey
from veokit.server.errors import ApiError, from_veokit
from veokit.server.links import verify
from veokit.server.models import CREATE_BODY, ERRORS, EXTEND_BODY, RemixRequest, Video, VideoDeleted, VideoList
from veokit.server.requests import EXTEND_FIELDS, build_request, check_known, read_body, whole
from veokit.server.shapes import video_object
from veokit.server.state import Service, service
from veokit.service import ApiKey, ExtensionSource, asset, extension_request

router = APIRouter(prefix="/v1/videos", tags=["videos"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="The same key and body return the same video and submit once; another body is a 409.",
    ),
]


def video_response(
    svc: Service, request: Request, key: ApiKey, job: Job, *, events: Any = None, status: int = 200
) -> JSONResponse:
    body = video_object(svc.client, job, str(request.base_url), key.id, events=events)
    headers = {}
    if not job.state.terminal:
        # When news can come next: the openai SDK's poll() waits this long between retrieves.
        headers["openai-poll-after-ms"] = str(max(250, int(svc.client.poll_after_s(job) * 1000)))
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "",
    response_model=Video,
    responses=ERRORS,
    openapi_extra=CREATE_BODY,
    summary="Create a video (multipart/form-data as the openai SDK sends it, or JSON)",
)
async def create_video(request: Request, key: Key, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    svc = service(request)
    body = await read_body(request)
    generate, provider = await build_request(body, svc.client.catalog, svc.fetcher)
    plan = svc.client.plan(generate, provider)
    job = await svc.client.tenants.submit(key, plan, idempotency_key=idempotency_key, request_hash=body.digest())
    svc.wake_worker()
    return video_response(svc, request, key, job)


@router.post("/edits", include_in_schema=False)
@router.post("/characters", include_in_schema=False)
@router.get("/characters/{character_id}", include_in_schema=False)
async def not_for_veo(request: Request, key: Key) -> None:
    """OpenAI's video edits and characters, which Veo has no counterpart for: said in words, not a bare 405."""
    what = request.url.path.removeprefix("/v1/videos/").split("/")[0]
    raise ApiError(
        404,
        f"video {what} are not available with Veo; POST /v1/videos/{{id}}/remix (the same settings, a new prompt) "
        "and POST /v1/videos/extensions (continue a video) are",
        code="unsupported",
    )


@router.get("", response_model=VideoList, responses=ERRORS, summary="List the key's videos (cursor pages)")
async def list_videos(
    request: Request,
    key: Key,
    after: Annotated[str | None, Query(max_length=64, description="the last id of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    svc = service(request)
    jobs = await svc.client.tenants.list(key, after=after, limit=limit + 1, ascending=order == "asc")
    page = jobs[:limit]
    base = str(request.base_url)
    return {
        "object": "list",
        "data": [video_object(svc.client, j, base, key.id) for j in page],
        "first_id": page[0].id if page else None,
        "last_id": page[-1].id if page else None,
        "has_more": len(jobs) > limit,
    }


@router.get("/{video_id}", response_model=Video, responses=ERRORS, summary="Retrieve a video (with its events)")
async def retrieve_video(request: Request, key: Key, video_id: str) -> JSONResponse:
    svc = service(request)
    job = await svc.client.tenants.get(key, video_id)
    return video_response(svc, request, key, job, events=await svc.client.events(job.id))


@router.delete("/{video_id}", response_model=VideoDeleted, responses=ERRORS, summary="Delete a finished video")
async def delete_video(request: Request, key: Key, video_id: str) -> dict[str, Any]:
    job = await service(request).client.tenants.delete(key, video_id)
    return {"id": job.id, "object": "video.deleted", "deleted": True}


@router.get(
    "/{video_id}/content",
    response_class=FileResponse,
    responses={
        **ERRORS,
        200: {"content": {"video/mp4": {}, "image/webp": {}, "image/jpeg": {}}, "description": "the file"},
        206: {"description": "the requested byte range"},
    },
    summary="Download the MP4, its thumbnail (WebP) or its spritesheet (JPEG); Range requests give 206",
)
async def download_content(
    request: Request,
    video_id: str,
    variant: Literal["video", "thumbnail", "spritesheet"] = "video",
    index: Annotated[int, Query(ge=0, le=3, description="which video of a request for several")] = 0,
    k: Annotated[str | None, Query(max_length=64, description="a signed link's key id")] = None,
    exp: Annotated[int | None, Query(description="a signed link's expiry (epoch seconds)")] = None,
    sig: Annotated[str | None, Query(max_length=64, description="a signed link's signature")] = None,
    key: OptionalKey = None,
) -> FileResponse:
    svc = service(request)
    if key is not None:
        job = await svc.client.tenants.get(key, video_id)
    elif k and exp is not None and sig and verify(svc.client.tenants, k, video_id, variant, index, exp, sig):
        job = await svc.client.tenants.get_for(k, video_id)  # deleted since the link was made: 404
    else:
        raise ApiError(
            401,
            "Missing API key (or an expired or wrong signed link).",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not job.state.terminal or not job.results:
        raise ApiError(
            409 if not job.state.terminal else 404,
            f"video {job.id} is {job.state.value}: it has no content"
            + (" yet; poll it until it is completed" if not job.state.terminal else ""),
            code="video_not_ready",
        )
    path, media_type = await asset(job, variant, index)
    suffix = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpg"}[variant]
    return FileResponse(
        path,
        media_type=media_type,
        filename=f"{job.id}.{suffix}",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.post("/{video_id}/cancel", response_model=Video, responses=ERRORS, summary="Cancel a queued or running video")
async def cancel_video(request: Request, key: Key, video_id: str) -> JSONResponse:
    svc = service(request)
    job = await svc.client.tenants.get(key, video_id)  # another key's video is 404 before anything is done
    return video_response(svc, request, key, await svc.client.cancel(job.id))


@router.post(
    "/extensions",
    response_model=Video,
    responses=ERRORS,
    openapi_extra=EXTEND_BODY,
    summary="Extend a video (Veo 3.1): one of the key's completed videos by id, or an uploaded 720p MP4",
)
async def extend_video(request: Request, key: Key, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    svc = service(request)
    body = await read_body(request)
    check_known(body, EXTEND_FIELDS)
    video = body.fields.get("video")
    uploads = body.files.get("video", [])
    if uploads:
        source, note = await _uploaded_source(svc, key, uploads), f"extends an uploaded video for key {key.name}"
    elif isinstance(video, dict) and isinstance(video.get("id"), str):
        source_job = await svc.client.tenants.get(key, video["id"])  # only this key's videos
        source = await svc.client.extension_source(source_job, field="video")
        note = f"extends {source_job.id} for key {key.name}"
    else:
        raise ApiError(400, 'video: give {"id": "<a completed video>"} or upload an MP4', param="video")
    fields: dict[str, Any] = {}
    for name in ("prompt", "model", "negative_prompt"):
        if body.fields.get(name) not in (None, ""):
            fields[name] = str(body.fields[name])
    if "prompt" not in fields:
        raise ApiError(400, "prompt: a prompt is required", code="missing_required_parameter", param="prompt")
    for name, target in (("seconds", "duration_seconds"), ("seed", "seed")):
        if body.fields.get(name) not in (None, ""):
            fields[target] = whole(name, body.fields[name])
    plan = svc.client.plan(extension_request(source, **fields), source.provider, extending=source)
    job = await svc.client.tenants.submit(
        key, plan, idempotency_key=idempotency_key, request_hash=body.digest(), note=note
    )
    svc.wake_worker()
    return video_response(svc, request, key, job)


async def _uploaded_source(svc: Service, key: ApiKey, uploads: list[tuple[str | None, bytes]]) -> ExtensionSource:
    if len(uploads) > 1:
        raise ApiError(400, "video: one video, not several", param="video")
    folder = Path(svc.settings.data_dir) / "uploads"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"{key.id}-{secrets.token_hex(8)}.mp4"
    await asyncio.to_thread(path.write_bytes, uploads[0][1])
    try:
        return await svc.client.extension_source(str(path), field="video")  # probed: a complete 720p MP4
    except E.VeokitError as exc:  # named by the caller's file name, not this server's spool file
        shown = (uploads[0][0] or "the uploaded video").replace("\n", " ")[:200]
        raise from_veokit(exc).with_message(exc.message.replace(path.name, shown)) from None
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)  # the request holds its bytes now


@router.post(
    "/{video_id}/remix",
    response_model=Video,
    responses=ERRORS,
    summary="Make the video again with its settings (and seed) and a new prompt",
)
async def remix_video(
    request: Request, key: Key, video_id: str, body: RemixRequest, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    svc = service(request)
    source = await svc.client.tenants.get(key, video_id)
    settings = GenerateRequest.model_validate(source.request)
    plan = svc.client.plan(GenerateRequest.build(**{**settings.model_dump(), "prompt": body.prompt}), source.provider)
    job = await svc.client.tenants.submit(
        key,
        plan,
        idempotency_key=idempotency_key,
        request_hash=_hash({"remix": source.id, "prompt": body.prompt}),
        note=f"remix of {source.id} for key {key.name}",
    )
    svc.wake_worker()
    return video_response(svc, request, key, job)


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
