"""fal.ai's queue API for the Veo 3.1 models in the catalog (``fal-ai/veo3.1``, ``fal-ai/veo3.1/fast``).

    POST /fal-ai/veo3.1[/fast][/image-to-video|/first-last-frame-to-video|/reference-to-video|/extend-video]
         -> {request_id, status_url, response_url, cancel_url, status: "IN_QUEUE"}
    GET  /fal-ai/veo3.1/requests/{id}/status   202 IN_QUEUE | 202 IN_PROGRESS | 200 COMPLETED (+ error, error_type)
    GET  /fal-ai/veo3.1/requests/{id}          200 {"video": {"url", ...}}; 400 while running; 422 content policy
    PUT  /fal-ai/veo3.1/requests/{id}/cancel   202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED

and fal's Platform API (api.fal.ai), served on the same port:

    GET  /v1/models/requests/by-endpoint?endpoint_id=&start=&end=&status=&request_id=&expand=payloads&limit=&cursor=
         -> {"items": [{request_id, endpoint_id, sent_at, started_at, ended_at, status_code, duration,
                        json_input?, json_output?}], "next_cursor", "has_more"}

Auth is ``Authorization: Key <key>`` (401 otherwise). Validation errors are 422 with fal's
``{"detail": [{"loc", "msg", "type"}]}``. A content-policy block completes, and its result answers 422
``content_policy_violation``; other failures carry ``error`` in the status. Status and result live under the
app (``fal-ai/veo3.1``) whatever endpoint the request came in through, as on fal.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.clock import rfc3339
from veokit.emulator.outcome import Outcome
from veokit.emulator.routing import emulator_state, fire_fault
from veokit.emulator.state import EmulatorState
from veokit.emulator.streaming import json_with_files
from veokit.emulator.task_media import (
    base_url,
    check_secret,
    fetch_input,
    header_secret,
    image_problem,
    probe_input_video,
    tmp_url,
)
from veokit.emulator.tasks import Frame, Task, TaskResult
from veokit.models.catalog import Offer

FAL = "fal"
MODES = {
    "": "text-to-video",
    "image-to-video": "image-to-video",
    "first-last-frame-to-video": "first-last-frame",
    "reference-to-video": "reference-to-video",
    "extend-video": "extend-video",
}
MODE_FEATURE = {
    "image-to-video": "image_to_video",
    "first-last-frame": "first_last_frame",
    "reference-to-video": "reference_images",
    "extend-video": "extension",
}
EXTENSION_ADDS_S = 7.0
MAX_EXTENDABLE_S = 8.5  # fal: "input videos up to 8 seconds"
SAFETY_TOLERANCE = ("1", "2", "3", "4", "5", "6")  # fal's SafetyToleranceEnum: strings, on every Veo 3.1 endpoint
FAL_FLAGGED = "The content was flagged by a content checker."


class Invalid(Exception):
    """A 422 in fal's shape, naming the input field."""

    def __init__(self, field: str, msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.field, self.msg, self.kind = field, msg, kind

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"detail": [{"loc": ["body", self.field], "msg": self.msg, "type": self.kind}]}, status_code=422
        )


def _detail(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _caller(state: EmulatorState, request: Request) -> str | None:
    return check_secret(state, FAL, header_secret(request, "key"))


def _endpoint(state: EmulatorState, path: str) -> tuple[Offer, str] | None:
    offers = sorted(state.catalog.models_for(FAL), key=lambda o: -len(o.model))
    for offer in offers:
        if path == offer.model or path.startswith(offer.model + "/"):
            mode = MODES.get(path[len(offer.model) + 1 :])
            if mode is not None and (mode == "text-to-video" or MODE_FEATURE[mode] in offer.features):
                return offer, mode
    return None


def app_of(model: str) -> str:
    return "/".join(model.split("/")[:2])


# -- submit ----------------------------------------------------------------------------------------------------
async def submit(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _detail(401, "Invalid or missing API key")
    path = "fal-ai/" + request.path_params["path"]
    found = _endpoint(state, path)
    if found is None:
        return _detail(404, f"Application '{path}' not found")
    offer, mode = found
    if (answer := (await fire_fault(state, "submit", offer.model, "pre", request=request))[1]) is not None:
        return answer
    try:
        body = json.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise Invalid("body", "Input should be a valid dictionary", "dict_type")
        frame = await _parse(state, body, offer, mode)
    except ValueError:
        return Invalid("body", "JSON decode error", "json_invalid").response()
    except Invalid as exc:
        return exc.response()
    fault, answer = await fire_fault(state, "submit", offer.model, "outcome")
    if answer is not None:
        return answer
    now = state.clock.now()
    task = Task(
        id=str(uuid.uuid4()),
        provider=FAL,
        model=offer.model,
        mode=mode,
        credential=cred,
        created_at=now,
        ready_at=now + state.draw_latency(),
        outcome=(fault.outcome() if fault else None) or Outcome.from_prompt(frame.prompt),
        frame=frame,
        params={k: v for k, v in body.items() if not k.endswith(("_url", "_urls"))},
    )
    state.tasks.start(task)
    state.stats_counters.submit(cred, offer.model, None)
    if (answer := (await fire_fault(state, "submit", offer.model, "after", request=request))[1]) is not None:
        return answer
    urls = _urls(request, task)
    return JSONResponse({"status": "IN_QUEUE", "request_id": task.id, "queue_position": 0, **urls})


def _urls(request: Request, task: Task) -> dict[str, str]:
    root = f"{base_url(request)}/{app_of(task.model)}/requests/{task.id}"
    return {"response_url": root, "status_url": f"{root}/status", "cancel_url": f"{root}/cancel"}


async def _parse(state: EmulatorState, body: dict[str, Any], offer: Offer, mode: str) -> Frame:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Invalid("prompt", "Field required", "missing")
    aspect = body.get("aspect_ratio", "16:9")
    allowed_aspects = [*offer.aspect_ratios, *(["auto"] if mode != "text-to-video" else [])]
    if aspect not in allowed_aspects:
        raise Invalid("aspect_ratio", f"Input should be {', '.join(repr(a) for a in allowed_aspects)}", "enum")
    aspect = "16:9" if aspect == "auto" else aspect
    durations = ["7s"] if mode == "extend-video" else [f"{d}s" for d in offer.durations]
    duration = body.get("duration", durations[-1])
    if duration not in durations:
        raise Invalid("duration", f"Input should be {', '.join(repr(d) for d in durations)}", "enum")
    resolutions = offer.extension_resolutions or offer.resolutions if mode == "extend-video" else offer.resolutions
    resolution = body.get("resolution", "720p")
    if resolution not in resolutions:
        raise Invalid("resolution", f"Input should be {', '.join(repr(r) for r in resolutions)}", "enum")
    audio = body.get("generate_audio", True)
    seed = body.get("seed")
    if not isinstance(audio, bool):
        raise Invalid("generate_audio", "Input should be a valid boolean", "bool_type")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise Invalid("seed", "Input should be a valid integer", "int_type")
    if "negative_prompt" in body and not isinstance(body["negative_prompt"], str):
        raise Invalid("negative_prompt", "Input should be a valid string", "string_type")
    if "auto_fix" in body and not isinstance(body["auto_fix"], bool):
        raise Invalid("auto_fix", "Input should be a valid boolean", "bool_type")
    if "safety_tolerance" in body and body["safety_tolerance"] not in SAFETY_TOLERANCE:
        raise Invalid("safety_tolerance", f"Input should be {', '.join(repr(t) for t in SAFETY_TOLERANCE)}", "enum")
    first, last = _frames(state, body, offer, mode)
    w, h = state.catalog.dims(resolution, aspect)
    seconds = float(duration[:-1])
    source: tuple[str, str] | None = None
    if mode == "extend-video":
        seconds, source = await _extended_length(state, body)
    seed = seed if seed is not None else state.config.seed
    if source is None:
        return Frame(prompt, w, h, seconds, audio, seed, first, last)
    # The result is the input video followed by the new seconds, as Veo returns it.
    return Frame(prompt, w, h, seconds, audio, seed, first, last, extends=source[0], extends_sha256=source[1])


def _image(state: EmulatorState, body: dict[str, Any], field: str) -> bytes:
    if field not in body:
        raise Invalid(field, "Field required", "missing")
    data = fetch_input(state, body[field])
    if data is None:
        raise Invalid(
            field, "Failed to download the file. Please check if the URL is accessible.", "file_download_error"
        )
    if (problem := image_problem(data)) is not None:
        raise Invalid(field, problem, "image_load_error")
    return data


def _frames(state: EmulatorState, body: dict[str, Any], offer: Offer, mode: str) -> tuple[bytes | None, bytes | None]:
    if mode == "image-to-video":
        return _image(state, body, "image_url"), None
    if mode == "first-last-frame":
        return _image(state, body, "first_frame_url"), _image(state, body, "last_frame_url")
    if mode == "reference-to-video":
        urls = body.get("image_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= offer.max_reference_images:
            raise Invalid("image_urls", f"Provide 1 to {offer.max_reference_images} reference image URLs")
        for i in range(len(urls)):
            _image(state, {f"image_urls.{i}": urls[i]}, f"image_urls.{i}")
    return None, None


async def _extended_length(state: EmulatorState, body: dict[str, Any]) -> tuple[float, tuple[str, str]]:
    """The extension's length, and the input video as the emulator keeps it (path, SHA-256)."""
    data = fetch_input(state, body.get("video_url"))
    if data is None:
        raise Invalid(
            "video_url", "Failed to download the file. Please check if the URL is accessible.", "file_download_error"
        )
    info = await probe_input_video(state, data)
    if info is None:
        raise Invalid("video_url", "The video could not be decoded", "video_load_error")
    if info[0] > MAX_EXTENDABLE_S:
        raise Invalid("video_url", f"Input videos up to 8 seconds can be extended (got {info[0]:.1f} s)")
    digest = hashlib.sha256(data).hexdigest()
    return info[0] + EXTENSION_ADDS_S, (str(state.inputs_dir / f"{digest}.mp4"), digest)


# -- status, result, cancel ------------------------------------------------------------------------------------
def _task(state: EmulatorState, request: Request, cred: str) -> Task | None:
    task = state.tasks.get(request.path_params["request_id"], FAL)
    app = "fal-ai/" + request.path_params["app"]
    return task if task is not None and task.credential == cred and app_of(task.model) == app else None


async def status(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _detail(401, "Invalid or missing API key")
    if (task := _task(state, request, cred)) is None:
        return _detail(404, "Request not found")
    state.stats_counters.poll()
    if (answer := (await fire_fault(state, "poll", task.model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "poll", task.model, "body")
    if answer is not None:
        return answer
    phase = state.tasks.phase(task)
    urls = _urls(request, task)
    if phase != "done":
        doc: dict[str, Any] = (
            {"status": "IN_QUEUE", "queue_position": 0}
            if phase == "queued"
            else {"status": "IN_PROGRESS", "logs": [{"message": "Generating video", "level": "INFO"}]}
        )
        return json_with_files({**doc, "response_url": urls["response_url"]}, status=202, fault=fault)
    result = state.tasks.resolve(task)
    assert result is not None
    doc = {
        "status": "COMPLETED",
        "response_url": urls["response_url"],
        "logs": [],
        "metrics": {"inference_time": round(result.done_at - task.created_at, 3)},
    }
    if result.state in ("failed", "canceled"):
        doc["error"] = result.message
        doc["error_type"] = "request_cancelled" if result.state == "canceled" else "generation_error"
    return json_with_files(doc, fault=fault)


async def result(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _detail(401, "Invalid or missing API key")
    if (task := _task(state, request, cred)) is None:
        return _detail(404, "Request not found")
    done = state.tasks.resolve(task)
    if done is None:
        return _detail(400, "Request is still in progress")
    if done.state == "filtered":
        # fal's own error shape and wording; a block by the model's moderation (Veo's) is "model_moderated".
        violation = {
            "loc": ["body", "prompt"],
            "msg": FAL_FLAGGED,
            "type": "content_policy_violation",
            "url": "https://docs.fal.ai/errors#content_policy_violation",
            "input": task.frame.prompt,
            "categories": ["model_moderated"],
        }
        return JSONResponse({"detail": [violation]}, status_code=422)
    if done.state == "canceled":
        return _detail(400, "Request was cancelled")
    if done.state == "failed":
        return _detail(500, done.message)
    size = task.renders["main"].result().size
    return JSONResponse(
        {
            "video": {
                "url": tmp_url(request, done.tokens["main"]),
                "content_type": "video/mp4",
                "file_name": "output.mp4",
                "file_size": size,
            },
            "seed": task.frame.seed,
        }
    )


async def cancel(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _detail(401, "Invalid or missing API key")
    if (task := _task(state, request, cred)) is None:
        return _detail(404, "Request not found")
    if state.tasks.cancel(task):
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)
    return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)


# -- Platform API: the requests that have ended ----------------------------------------------------------------
ENDPOINT_OF_MODE = {mode: sub for sub, mode in MODES.items()}
STATUS_CLASS = {"succeeded": (200, "success"), "filtered": (422, "user_error"), "canceled": (400, "user_error")}
LIST_DEFAULT_S = 86400  # ``start`` defaults to 24 hours ago


def endpoint_of(task: Task) -> str:
    sub = ENDPOINT_OF_MODE[task.mode]
    return f"{task.model}/{sub}" if sub else task.model


def _when(value: str | None, default: float) -> float | None:
    """An ISO 8601 date or date-time (UTC when no offset is given) as epoch seconds; None if unreadable."""
    if value is None:
        return default
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)).timestamp()


def _listed(request: Request, task: Task, done: TaskResult, payloads: bool) -> dict[str, Any]:
    code, _ = STATUS_CLASS.get(done.state, (500, "error"))
    started = task.created_at + (task.ready_at - task.created_at) / 4
    item: dict[str, Any] = {
        "request_id": task.id,
        "endpoint_id": endpoint_of(task),
        "sent_at": rfc3339(task.created_at),
        "started_at": rfc3339(started),
        "ended_at": rfc3339(done.done_at),
        "status_code": code,
        "duration": round(done.done_at - started, 3),
    }
    if payloads:
        item["json_input"] = task.params
        item["json_output"] = (
            {"video": {"url": tmp_url(request, done.tokens["main"])}, "seed": task.frame.seed}
            if done.state == "succeeded"
            else {"detail": done.message}
        )
    return item


async def requests_by_endpoint(request: Request) -> Response:
    """A history of requests that have *ended*, as fal's Platform API lists them (its filters are end states;
    its sort is end time): a request still queued or running is not in it. Newest end first."""
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _detail(401, "Invalid or missing API key")
    q = request.query_params
    endpoints = {e for v in q.getlist("endpoint_id") for e in v.split(",") if e}
    if not endpoints:
        return Invalid("endpoint_id", "Field required", "missing").response()
    now = state.clock.now()
    start, end = _when(q.get("start"), now - LIST_DEFAULT_S), _when(q.get("end"), now)
    if start is None or end is None:
        return Invalid("start" if start is None else "end", "Input should be an ISO8601 date", "value_error").response()
    try:
        limit = int(q.get("limit", "50"))
        page = int(base64.b64decode(q["cursor"], validate=True)) if "cursor" in q else 1
    except (ValueError, binascii.Error):
        return Invalid("cursor" if "cursor" in q else "limit", "Invalid value", "value_error").response()
    if not 1 <= limit <= 100 or page < 1:
        return Invalid("limit", "Input should be between 1 and 100", "value_error").response()
    payloads = "payloads" in {e for v in q.getlist("expand") for e in v.split(",")}
    ended: list[tuple[Task, TaskResult]] = []
    for task in state.tasks.all():
        if task.provider != FAL or task.credential != cred or endpoint_of(task) not in endpoints:
            continue
        done = state.tasks.resolve(task)
        if done is None or not start <= done.done_at < end:
            continue
        if q.get("request_id") not in (None, task.id):
            continue
        if q.get("status") not in (None, STATUS_CLASS.get(done.state, (500, "error"))[1]):
            continue
        ended.append((task, done))
    ended.sort(key=lambda td: (td[1].done_at, td[0].id), reverse=True)
    chunk = ended[(page - 1) * limit : page * limit]
    more = page * limit < len(ended)
    return JSONResponse(
        {
            "items": [_listed(request, t, d, payloads) for t, d in chunk],
            "next_cursor": base64.b64encode(str(page + 1).encode()).decode() if more else None,
            "has_more": more,
        }
    )


routes = [
    # Before Replicate's /v1/models/{owner}/{name} (the registry's order puts fal first): same shape of path.
    Route("/v1/models/requests/by-endpoint", requests_by_endpoint, methods=["GET"]),
    Route("/fal-ai/{app}/requests/{request_id}/status", status, methods=["GET"]),
    Route("/fal-ai/{app}/requests/{request_id}/cancel", cancel, methods=["PUT"]),
    Route("/fal-ai/{app}/requests/{request_id}", result, methods=["GET"]),
    Route("/fal-ai/{path:path}", submit, methods=["POST"]),
]
