"""``/v1/veokit/films``: storyboards over HTTP, as ``veokit film plan|render|pick`` are in a terminal.

    POST /v1/veokit/films                 a storyboard (YAML or JSON body) → the film, planned and priced; nothing paid
    GET  /v1/veokit/films                 the key's films, newest first
    GET  /v1/veokit/films/{id}            shots in order, each take's video (state, poster), the chosen takes, the film
    POST /v1/veokit/films/{id}/render     {confirm_usd}: render what is missing, in the background, if that covers it
    POST /v1/veokit/films/{id}/pick       {shot, take, confirm_usd?}: the price of re-rendering downstream; applied
                                          when confirm_usd covers it
    GET  /v1/veokit/films/{id}/content    the stitched MP4 (the key, or a signed link: the film's ``film_url``)

Each route is one call to :class:`veokit.service.KeyFilms`. A bad storyboard is a 400 naming the line, shot and
field (``error.param`` the field, ``error.shot`` and ``error.line``), as ``veokit film plan`` exits 2; reference
images come inline as data: URLs (a file path is refused unread). A take is one of the key's videos
(``/v1/videos/{job_id}``); another key's film is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from veokit import errors as E
from veokit.models.job import JobState
from veokit.server.auth import Key, OptionalKey
from veokit.server.errors import ApiError, from_veokit, not_found
from veokit.server.links import content_url, film_url, verify
from veokit.server.models import ERRORS
from veokit.server.state import Service, service
from veokit.service import ApiKey, FilmStatus, KeyFilm

router = APIRouter(prefix="/v1/veokit/films", tags=["films"])

STORYBOARD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A storyboard (docs/storyboard.schema.json): YAML (text/yaml, text/plain) or JSON. Reference "
        "images are data: URLs.",
        "content": {
            "application/json": {"schema": {"type": "object", "required": ["title", "shots"]}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}
YAML_TYPES = ("text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml", "text/plain")


class Take(BaseModel):
    take: int
    chosen: bool
    state: str = Field(description='the job\'s state, or "not recorded"')
    job_id: str | None = Field(description="the take's video: /v1/videos/{job_id}")
    cost_usd: float | None
    poster_url: str | None = Field(description="a signed link to its thumbnail, once it has succeeded")
    video_url: str | None


class Shot(BaseModel):
    shot: str
    continuity: str
    provider: str
    model: str
    seconds: float
    takes: list[Take]
    pick: int
    pick_source: str
    usd_per_take: float
    usd: float = Field(description="every take of the shot")
    state: str = Field(description="done · rendering · waiting · needs_attention · failed · not started")


class Film(BaseModel):
    id: str
    object: Literal["film"] = "film"
    created_at: int
    title: str
    shots: list[Shot] = Field(description="in the storyboard's order")
    takes: int
    total_usd: float = Field(description="every take of every shot")
    to_pay_usd: float = Field(description="what rendering still pays: takes not yet recorded")
    film_seconds: float
    done: bool = Field(description="every shot's chosen take has succeeded")
    warnings: list[str]
    rendering: bool = Field(description="a render is running in this service")
    render_error: str | None = Field(description="why the last render stopped, when it did not finish")
    events: list[str] = Field(description="the last render's events")
    film_url: str | None = Field(description="the stitched film (a signed link), once rendered")


class FilmSummary(BaseModel):
    id: str
    object: Literal["film"] = "film"
    created_at: int
    title: str


class FilmList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FilmSummary]


class RenderRequest(BaseModel):
    confirm_usd: float | None = Field(
        default=None, ge=0, description="the most this render may pay; at least the film's to_pay_usd"
    )


class PickRequest(BaseModel):
    shot: str = Field(min_length=1, max_length=200)
    take: int = Field(ge=1, le=100)
    confirm_usd: float | None = Field(
        default=None, ge=0, description="apply the pick, accepting to pay this much to re-render what follows"
    )


class RenderItem(BaseModel):
    shot: str
    take: int


class PickResult(BaseModel):
    shot: str
    take: int
    previous: int
    dependents: list[str] = Field(description="the shots that follow the picked one")
    to_render: list[RenderItem] = Field(description="takes with no video yet under the new pick")
    usd: float = Field(description="what re-rendering them pays")
    applied: bool
    film: Film


@router.post(
    "",
    response_model=Film,
    status_code=201,
    responses=ERRORS,
    openapi_extra=STORYBOARD_BODY,
    summary="Plan a storyboard: checked and priced per shot; nothing is paid",
)
async def create_film(request: Request, key: Key) -> JSONResponse:
    svc = service(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/json", *YAML_TYPES):
        raise ApiError(415, f"send the storyboard as YAML or JSON, not {kind!r}", code="unsupported_media_type")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            400, "storyboard: the body is not UTF-8 text", code="invalid_value", param="storyboard"
        ) from None
    if not text.strip():
        raise ApiError(
            400, "storyboard: the body is empty; send a storyboard", code="invalid_value", param="storyboard"
        )
    fmt: Literal["json", "yaml"] | None = "json" if kind == "application/json" else None if kind == "" else "yaml"
    try:
        film, _ = await svc.films.create(key, text, fmt)
    except E.StoryboardError as exc:
        raise storyboard_error(exc) from None
    return JSONResponse(await film_object(svc, request, key, film), status_code=201)


@router.get("", response_model=FilmList, responses=ERRORS, summary="The key's films, newest first")
async def list_films(request: Request, key: Key) -> dict[str, Any]:
    svc = service(request)
    data = []
    for film in await svc.films.list(key):
        try:
            title = (await svc.films.board(film)).title
        except E.VeokitError:  # kept by an older version that read it differently: listed, not hidden
            title = "(storyboard unreadable)"
        data.append({"id": film.id, "created_at": _epoch(film), "title": title})
    return {"object": "list", "data": data}


@router.get("/{film_id}", response_model=Film, responses=ERRORS, summary="The film: shots, takes, posters, the film")
async def get_film(request: Request, key: Key, film_id: str) -> dict[str, Any]:
    svc = service(request)
    return await film_object(svc, request, key, await _film(svc, key, film_id))


@router.post(
    "/{film_id}/render",
    response_model=Film,
    status_code=202,
    responses=ERRORS,
    summary="Render what the film is missing, in the background, when confirm_usd covers its price",
)
async def render_film(request: Request, key: Key, film_id: str, body: RenderRequest | None = None) -> JSONResponse:
    svc = service(request)
    film = await _film(svc, key, film_id)
    await svc.films.render(key, film, body.confirm_usd if body else None)
    return JSONResponse(await film_object(svc, request, key, film), status_code=202)


@router.post(
    "/{film_id}/pick",
    response_model=PickResult,
    responses=ERRORS,
    summary="Choose a take: what re-rendering the shots after it costs; applied when confirm_usd covers it",
)
async def pick_take(request: Request, key: Key, film_id: str, body: PickRequest) -> dict[str, Any]:
    svc = service(request)
    film = await _film(svc, key, film_id)
    try:
        preview, applied = await svc.films.pick(key, film, body.shot, body.take, body.confirm_usd)
    except E.StoryboardError as exc:
        raise storyboard_error(exc) from None
    return {
        "shot": preview.shot,
        "take": preview.take,
        "previous": preview.previous,
        "dependents": list(preview.dependents),
        "to_render": [{"shot": s, "take": t} for s, t in preview.to_render],
        "usd": preview.usd,
        "applied": applied,
        "film": await film_object(svc, request, key, film),
    }


@router.get(
    "/{film_id}/content",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"content": {"video/mp4": {}}, "description": "the stitched film"}},
    summary="Download the stitched film (MP4; Range requests give 206)",
)
async def download_film(
    request: Request,
    film_id: str,
    k: Annotated[str | None, Query(max_length=64, description="a signed link's key id")] = None,
    exp: Annotated[int | None, Query(description="a signed link's expiry (epoch seconds)")] = None,
    sig: Annotated[str | None, Query(max_length=64, description="a signed link's signature")] = None,
    key: OptionalKey = None,
) -> FileResponse:
    svc = service(request)
    tenants = svc.client.tenants
    if key is not None:
        film = await _film(svc, key, film_id)
    elif k and exp is not None and sig and verify(tenants, k, film_id, "film", 0, exp, sig):
        film = await _film(svc, k, film_id)  # its key's film, as the link was given out
    else:
        raise ApiError(
            401,
            "Missing API key (or an expired or wrong signed link).",
            code="missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not film.video.is_file():
        raise ApiError(404, f"film {film.id} is not rendered yet: render it first", code="film_not_rendered")
    return FileResponse(
        film.video,
        media_type="video/mp4",
        filename=f"{film.id}.mp4",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-cache"},  # a new pick and render replace it under the same URL
    )


# -- shapes ----------------------------------------------------------------------------------------------------
async def film_object(svc: Service, request: Request, key: ApiKey, film: KeyFilm) -> dict[str, Any]:
    st: FilmStatus = await svc.films.status(key, film)
    run = svc.films.render_of(key, film)
    base = str(request.base_url)
    view = st.view()
    for shot in view["shots"]:
        del shot["address"]
        for take in shot["takes"]:
            del take["address"]
            video = take.pop("video")  # a path on this machine: never handed out
            job_id = take["job_id"] if take["state"] == JobState.SUCCEEDED.value and video is not None else None
            for name, variant in (("poster_url", "thumbnail"), ("video_url", "video")):
                take[name] = content_url(svc.client.tenants, base, key.id, job_id, variant) if job_id else None
    rendered = st.done and not run.running and film.video.is_file()
    return {
        **view,
        "id": film.id,
        "object": "film",
        "created_at": _epoch(film),
        "rendering": run.running,
        "render_error": None if run.running else run.error,
        "events": list(run.events),
        "film_url": film_url(svc.client.tenants, base, key.id, film.id) if rendered else None,
    }


def storyboard_error(exc: E.StoryboardError) -> ApiError:
    """A 400 naming the field (``param``), and where: ``shot`` and ``line``; every problem found, in ``problems``."""
    error = from_veokit(exc)
    error.extra = {"shot": exc.shot, "line": exc.line, "problems": [p.message for p in exc.problems]}
    return error


async def _film(svc: Service, key: ApiKey | str, film_id: str) -> KeyFilm:
    film = await svc.films.get(key.id if isinstance(key, ApiKey) else key, film_id)
    if film is None:
        raise not_found("film")
    return film


def _epoch(film: KeyFilm) -> int:
    return int(film.created_at.timestamp())
