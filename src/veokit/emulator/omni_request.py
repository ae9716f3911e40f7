"""Parse and validate a create-interaction body for an Omni model against its catalog offer, as the service would.

Every rejection is an :class:`InteractionsError`: HTTP 400 with the Interactions API's string code
(``invalid_request``, ``parameter_unknown``) and a message naming the field, the shape google-genai parses.
Media are only *referenced* here; :mod:`veokit.emulator.omni` resolves URIs and probes videos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from veokit.emulator.errors import RpcError
from veokit.emulator.interactions import Host
from veokit.emulator.media_inputs import MediaRef, check_image, decode_b64
from veokit.emulator.outcome import Outcome
from veokit.models.catalog import Catalog, Offer

UINT32_MAX = 2**32 - 1
DEFAULT_DURATION_S = 8  # what the emulator picks when the request leaves the duration to the model
TASKS = ("text_to_video", "image_to_video", "reference_to_video", "edit", "extend", "upscale")
# Create-interaction fields (google-genai 3.4.0, CreateModelInteraction); the rest are a 400 parameter_unknown.
KNOWN_FIELDS = frozenset(
    {
        "model",
        "background",
        "cached_content",
        "continuation_token",
        "environment",
        "generation_config",
        "input",
        "labels",
        "previous_interaction_id",
        "response_format",
        "response_mime_type",
        "response_modalities",
        "safety_settings",
        "service_tier",
        "store",
        "stream",
        "system_instruction",
        "tools",
        "webhook_config",
    }
)
_DURATION = re.compile(r"^(\d+)(?:\.0+)?s$")
# google.rpc status names → Interactions error codes ([IERR]), for errors raised by the shared helpers.
_CODES = {
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "failed_precondition",
    "OUT_OF_RANGE": "out_of_range",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission_denied",
    "NOT_FOUND": "not_found",
    "ALREADY_EXISTS": "already_exists",
    "ABORTED": "aborted",
    "RESOURCE_EXHAUSTED": "rate_limit_exceeded",
    "CANCELLED": "cancelled",
    "INTERNAL": "api_error",
    "UNKNOWN": "api_error",
    "DATA_LOSS": "api_error",
    "UNIMPLEMENTED": "unimplemented",
    "UNAVAILABLE": "service_unavailable",
    "DEADLINE_EXCEEDED": "deadline_exceeded",
}


class InteractionsError(RpcError):
    """An error in the Interactions API's shape: ``{"error": {"code": "invalid_request", "message": ...}}``."""

    def __init__(self, code: str, message: str, *, http_status: int = 400, **kw: Any) -> None:
        super().__init__("INVALID_ARGUMENT", message, http_status=http_status, **kw)
        self.code = code

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"error": err}

    @classmethod
    def from_rpc(cls, exc: RpcError) -> InteractionsError:
        if isinstance(exc, InteractionsError):
            return exc
        code = _CODES.get(exc.status, "api_error")
        return cls(code, exc.message, http_status=exc.http_status, details=exc.details, headers=exc.headers)


def reshape(answer: Response) -> Response:
    """A scripted fault's google.rpc body (``{"error": {"code": 503, "status": "UNAVAILABLE"}}``) in this API's
    shape, keeping its status code and headers; other bodies pass unchanged."""
    import json

    if not isinstance(answer, JSONResponse):
        return answer
    try:
        doc = json.loads(bytes(answer.body))
    except ValueError:
        return answer
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("code"), int):
        return answer
    body = {"code": _CODES.get(str(err.get("status")), "api_error"), "message": str(err.get("message", ""))}
    if err.get("details"):
        body["details"] = err["details"]
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse({"error": body}, status_code=answer.status_code, headers=headers)


def invalid(message: str, code: str = "invalid_request") -> InteractionsError:
    return InteractionsError(code, message)


@dataclass(frozen=True)
class OmniRequest:
    offer: Offer
    prompt: str
    task: str
    images: tuple[MediaRef, ...]  # first (and last) frame, or references, per the task
    video: MediaRef | None  # the video to extend, by URI or inline
    previous_id: str | None  # the interaction to extend
    aspect_ratio: str
    resolution: str
    width: int
    height: int
    duration_s: int
    delivery: str
    gcs_uri: str | None
    seed: int | None
    echo: dict[str, Any]
    outcome: Outcome

    @property
    def model(self) -> str:
        return self.offer.model


def parse_create(body: Any, host: Host, offer: Offer, catalog: Catalog) -> OmniRequest:
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object at the top level.")
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(f'Unknown parameter "{name}".', "parameter_unknown")
    if body.get("stream"):
        raise invalid("stream: the emulator serves video interactions in the background only (stream is not served)")
    if body.get("background") is not True:
        raise invalid("background: video interactions must run in the background (set background: true)")
    if body.get("store") is False:
        raise invalid("store: a background interaction must be stored (store cannot be false)")
    content = _content(body.get("input"))
    texts = [b.get("text") for b in content if b.get("type") == "text"]
    if any(not isinstance(t, str) for t in texts):
        raise invalid("input: a text block needs a string 'text'")
    prompt = "\n".join(t for t in texts if isinstance(t, str))
    images = tuple(_media(b, f"input[{i}]", "image") for i, b in enumerate(content) if b.get("type") == "image")
    videos = [_media(b, f"input[{i}]", "video") for i, b in enumerate(content) if b.get("type") == "video"]
    for i, b in enumerate(content):
        if b.get("type") not in ("text", "image", "video"):
            raise invalid(f"input[{i}].type: {b.get('type')!r} is not supported for video generation by {offer.model}")
    if len(videos) > 1:
        raise invalid("input: at most one video can be extended per interaction")
    previous = body.get("previous_interaction_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise invalid("previous_interaction_id must be a non-empty string")
    seed, task = _generation_config(body.get("generation_config"))
    fmt = _response_format(body.get("response_format"))
    task = task or _infer_task(images, videos, previous)
    video = videos[0] if videos else None
    _check_task(offer, task, prompt, images, video, previous)
    aspect = _choice(fmt, "aspect_ratio", "16:9", offer.aspect_ratios)
    resolution = _choice(fmt, "resolution", "720p", offer.resolutions)
    duration = _duration(fmt, offer, task, len(images))
    delivery = _choice(fmt, "delivery", "inline", ["inline", "uri"])
    gcs_uri = _gcs_uri(fmt, host, delivery)
    width, height = catalog.dims(resolution, aspect)
    echo = {
        "input": [{"type": "user_input", "content": [_light(b) for b in content]}],
        "response_format": fmt,
        "generation_config": body.get("generation_config") or {},
    }
    if previous:
        echo["previous_interaction_id"] = previous
    return OmniRequest(
        offer=offer,
        prompt=prompt,
        task=task,
        images=images,
        video=video,
        previous_id=previous,
        aspect_ratio=aspect,
        resolution=resolution,
        width=width,
        height=height,
        duration_s=duration,
        delivery=delivery,
        gcs_uri=gcs_uri,
        seed=seed,
        echo=echo,
        outcome=Outcome.from_prompt(prompt),
    )


def _content(raw: Any) -> list[dict[str, Any]]:
    """The user's content blocks, from any of the input forms: a string, a block, blocks, or steps."""
    if raw is None:
        raise invalid("input is required")
    if isinstance(raw, str):
        return [{"type": "text", "text": raw}]
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise invalid("input must be a string, a content block, or a list of content blocks or steps")
    if raw and all(x.get("type") == "user_input" for x in raw):
        if len(raw) != 1:
            raise invalid("input: exactly one user_input step is expected")
        raw = raw[0].get("content")
        if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
            raise invalid("input[0].content must be a list of content blocks")
    return list(raw)


def _media(block: dict[str, Any], where: str, kind: str) -> MediaRef:
    mime = block.get("mime_type")
    if block.get("uri") is not None:
        uri = block["uri"]
        if not isinstance(uri, str) or not uri:
            raise invalid(f"{where}.uri must be a non-empty string")
        return MediaRef(uri=uri, mime_type=mime)
    data = _decode(block.get("data"), f"{where}.data")
    if kind == "image":
        try:
            mime = check_image(data, where)
        except RpcError as exc:
            raise InteractionsError.from_rpc(exc) from None
    return MediaRef(data=data, mime_type=mime or "video/mp4")


def _decode(value: Any, field: str) -> bytes:
    try:
        return decode_b64(value, field)
    except RpcError as exc:
        raise InteractionsError.from_rpc(exc) from None


def _light(block: dict[str, Any]) -> dict[str, Any]:
    """A content block as the resource echoes it: media without their bytes (a poll must stay small)."""
    return {k: v for k, v in block.items() if k != "data"}


def _generation_config(raw: Any) -> tuple[int | None, str | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise invalid("generation_config must be an object")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= UINT32_MAX):
        raise invalid(f"generation_config.seed must be an integer between 0 and {UINT32_MAX}")
    video = raw.get("video_config") or {}
    if not isinstance(video, dict):
        raise invalid("generation_config.video_config must be an object")
    task = video.get("task")
    if task is not None and task not in TASKS:
        raise invalid(f"generation_config.video_config.task: {task!r} is not one of {', '.join(TASKS)}")
    return seed, task


def _response_format(raw: Any) -> dict[str, Any]:
    if isinstance(raw, list):
        videos = [f for f in raw if isinstance(f, dict) and f.get("type") == "video"]
        raw = videos[0] if len(videos) == 1 else None
    if raw is None:
        return {"type": "video"}
    if not isinstance(raw, dict) or raw.get("type") != "video":
        raise invalid("response_format: a video model needs a response format of type 'video'")
    return dict(raw)


def _infer_task(images: tuple[MediaRef, ...], videos: list[MediaRef], previous: str | None) -> str:
    if videos or previous:
        return "extend"
    return "image_to_video" if images else "text_to_video"


def _check_task(
    offer: Offer, task: str, prompt: str, images: tuple[MediaRef, ...], video: MediaRef | None, previous: str | None
) -> None:
    m = offer.model
    needs = {
        "image_to_video": "image_to_video",
        "reference_to_video": "reference_images",
        "extend": "extension",
    }
    if task in ("edit", "upscale"):
        raise invalid(f"generation_config.video_config.task: {task} is not supported by the emulator for {m}")
    feature = needs.get(task)
    if feature is not None and feature not in offer.features:
        raise invalid(f"generation_config.video_config.task: {task} is not supported by model {m}")
    if task == "text_to_video" and (images or video):
        raise invalid("input: text_to_video takes text only; set the task for images or a video")
    if not prompt.strip() and task in ("text_to_video", "reference_to_video"):
        raise invalid("input: a text prompt is required")
    if task == "image_to_video":
        if not 1 <= len(images) <= 2:
            raise invalid("input: image_to_video takes a first frame and optionally a last frame (1 or 2 images)")
        if len(images) == 2 and "first_last_frame" not in offer.features:
            raise invalid(f"input: a last frame is not supported by model {m}")
    if task == "reference_to_video" and not 1 <= len(images) <= offer.max_reference_images:
        raise invalid(f"input: reference_to_video takes 1 to {offer.max_reference_images} reference images")
    if task == "extend":
        if (video is None) == (previous is None):
            raise invalid("extend needs exactly one of: a video in the input, or previous_interaction_id")
        if images:
            raise invalid("input: images cannot be combined with an extension")
    elif video is not None or previous is not None:
        raise invalid(f"input: a video or previous_interaction_id needs task extend, not {task}")


def _choice(fmt: dict[str, Any], key: str, default: str, allowed: list[str]) -> str:
    value = fmt.get(key, default)
    if isinstance(value, str):
        value = value.lower() if key == "resolution" else value
    if value not in allowed:
        raise invalid(f"response_format.{key}: {value!r} is not supported. Supported values: {', '.join(allowed)}.")
    return str(value)


def _duration(fmt: dict[str, Any], offer: Offer, task: str, n_images: int) -> int:
    raw = fmt.get("duration")
    if raw is None:
        return DEFAULT_DURATION_S if DEFAULT_DURATION_S in offer.durations else offer.durations[-1]
    m = _DURATION.match(raw) if isinstance(raw, str) else None
    if m is None:
        raise invalid(f'response_format.duration: {raw!r} is not a duration such as "8s"')
    seconds = int(m.group(1))
    shown = ", ".join(f"{d}s" for d in offer.durations)
    if seconds not in offer.durations:
        raise invalid(f"response_format.duration: {raw} is not supported by {offer.model}. Supported values: {shown}.")
    feature = "extension" if task == "extend" else ""
    if task == "image_to_video" and n_images == 2:
        feature = "first_last_frame"
    limit = offer.feature_max_seconds.get(feature)
    if limit is not None and seconds > limit:
        what = feature.replace("_", " ")
        raise invalid(f"response_format.duration: {raw} is too long; {what} allows at most {limit}s")
    return seconds


def _gcs_uri(fmt: dict[str, Any], host: Host, delivery: str) -> str | None:
    uri = fmt.get("gcs_uri")
    if host == "gemini":
        if uri is not None:
            raise invalid("response_format.gcs_uri is not supported in the Gemini API")
        return None
    if delivery != "uri":
        return None  # inline: the video comes back in the answer, whatever the bucket
    if uri is None:
        raise invalid("response_format.gcs_uri is required for uri delivery")
    if not isinstance(uri, str) or not uri.startswith("gs://") or len(uri) <= 5 or uri[5] == "/":
        raise invalid("response_format.gcs_uri must be a Cloud Storage URI such as gs://bucket/prefix")
    return uri
