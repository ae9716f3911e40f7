"""The API's documented shapes (``/openapi.json``): what each route answers, validated on the way out."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """OpenAI's ``Video``, with veokit's own facts under ``veokit``."""

    id: str
    object: Literal["video"] = "video"
    model: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None = None
    expires_at: int | None = None
    error: VideoError | None = None
    prompt: str | None = None
    remixed_from_video_id: str | None = None
    seconds: str
    size: str
    veokit: dict[str, Any] = Field(
        description="veokit's state, provider, estimate_usd, cost_usd, request (its settings, for a re-run), files, "
        "thumbnail_url, events_url; with events on retrieve"
    )


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool


class RemixRequest(BaseModel):
    prompt: str


class Spend(BaseModel):
    """A key's UTC day: what it committed against its budget, and its videos in flight against its cap."""

    key: str
    day: str
    spent_usd: float = Field(description="spent, reserved or of unknown outcome today")
    queued_usd: float = Field(description="estimates of its videos not yet submitted")
    total_usd: float
    budget_daily_usd: float | None
    remaining_usd: float | None
    in_flight: int
    max_in_flight: int | None


class Estimate(BaseModel):
    """What a create with the same body would cost, and where it would run; nothing is recorded."""

    provider: str
    model: str
    seconds: int
    size: str
    audio: bool
    estimate_usd: float
    description: str
    fits_budget: bool
    remaining_usd: float | None


# The create body as OpenAPI describes it (the route reads the raw request: form data or JSON).
CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 8000},
        "model": {"type": "string", "description": "a veokit model id or family; default from settings"},
        "seconds": {"type": "string", "enum": ["4", "6", "8"]},
        "size": {
            "type": "string",
            "enum": ["1280x720", "720x1280", "1920x1080", "1080x1920", "3840x2160", "2160x3840"],
        },
        "input_reference": {"description": "the first frame: an upload, or {image_url: https://… | data:…}"},
        "negative_prompt": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 4294967295},
        "generate_audio": {"type": "boolean"},
        "enhance_prompt": {"type": "boolean"},
        "person_generation": {"type": "string"},
        "last_frame": {"description": "an upload or {image_url}"},
        "reference_images": {"type": "array", "items": {}, "maxItems": 3},
        "provider": {"type": "string"},
    },
    "additionalProperties": False,
}
CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CREATE_SCHEMA},
            "multipart/form-data": {"schema": CREATE_SCHEMA},
        },
    }
}


_EXTEND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["prompt", "video"],
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 8000},
        "seconds": {"type": "string", "enum": ["8"], "description": "Veo adds 7 s, billed as 8"},
        "video": {"description": '{"id": "<a completed video of this key>"}, or an uploaded 720p MP4'},
        "model": {"type": "string"},
        "negative_prompt": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 4294967295},
    },
    "additionalProperties": False,
}
EXTEND_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _EXTEND_SCHEMA},
            "multipart/form-data": {"schema": _EXTEND_SCHEMA},
        },
    }
}


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "invalid request: the parameter is named in error.param; nothing was recorded or paid"),
        (401, "missing, wrong or revoked API key"),
        (402, "the key's daily budget would be exceeded"),
        (404, "no such video for this key"),
        (409, "conflict: the video's state does not allow it, or an Idempotency-Key reused with another body"),
        (413, "the request body or an image is too large"),
        (415, "a content type other than JSON or form data"),
        (429, "too many of the key's videos in flight"),
    )
}


class BridgeErrorBody(BaseModel):
    code: str
    message: str
    retryable: bool


class BridgeError(BaseModel):
    success: Literal[False] = False
    error: BridgeErrorBody


BRIDGE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": BridgeError, "description": entry["description"]} for code, entry in ERRORS.items()
}
