"""Replicate's predictions API for the Veo models in the catalog (``google/veo-3.1``, ``google/veo-3.1-fast``).

    POST /v1/models/{owner}/{name}/predictions   {"input": {...}}  -> 201 a prediction (status "starting")
    GET  /v1/predictions/{id}                    starting -> processing -> succeeded | failed | canceled
    POST /v1/predictions/{id}/cancel             -> the prediction, canceled if it was still running
    GET  /v1/predictions[?cursor=]               -> {"next", "previous", "results"}: the caller's predictions,
                                                    newest first, running ones included, 100 a page
    GET  /v1/models/{owner}/{name}               -> the model (what ``veokit doctor`` and ``models.get`` read)

Auth is ``Authorization: Bearer <token>`` (``Token`` also works, as on Replicate). Errors are RFC 7807
problem documents (``{"title", "detail", "status"}``, 422 adds ``invalid_fields``). ``output`` is the video's
URL once succeeded. A safety block fails the prediction with Replicate's E005 message. Reference images are
refused unless the request is 16:9 and 8 s, as the model's docs say. A prediction's ``input`` shows a file sent as
a data URI as the URL of a stored copy: Replicate stopped returning data URLs in inputs in 2022
(github.com/replicate/inpainter/issues/1). ``Prefer: wait[=N]`` on a create holds the
answer until the prediction finishes (at most N s, default 60), as the official client's ``run()`` expects.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.clock import rfc3339
from veokit.emulator.outcome import Outcome
from veokit.emulator.replicate_model import model_doc
from veokit.emulator.routing import emulator_state, fire_fault
from veokit.emulator.state import EmulatorState, new_short_id
from veokit.emulator.streaming import json_with_files
from veokit.emulator.task_media import (
    base_url,
    check_secret,
    decode_data_uri,
    fetch_input,
    header_secret,
    image_problem,
    tmp_url,
)
from veokit.emulator.tasks import Frame, Task
from veokit.models.catalog import Offer

REPLICATE = "replicate"
MAX_WAIT_S = 60  # Replicate holds a "Prefer: wait" request for at most 60 s
PAGE_SIZE = 100  # predictions.list: "It will return 100 records per page"
FILE_INPUTS = ("image", "last_frame", "reference_images")
HOLD_POLL_S = 0.02
FLAGGED = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"


class Invalid(Exception):
    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field, self.description = field, description

    def response(self) -> JSONResponse:
        return _problem(
            422,
            "Input validation failed",
            f"input.{self.field}: {self.description}",
            invalid_fields=[{"type": "invalid", "field": f"input.{self.field}", "description": self.description}],
        )


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"title": title, "detail": detail, "status": status, **extra},
        status_code=status,
        media_type="application/problem+json",
    )


def _unauthenticated() -> JSONResponse:
    return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def _caller(state: EmulatorState, request: Request) -> str | None:
    return check_secret(state, REPLICATE, header_secret(request, "bearer", "token"))


async def create(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _unauthenticated()
    model = f"{request.path_params['owner']}/{request.path_params['name']}"
    offer = state.catalog.find(REPLICATE, model)
    if offer is None:
        return _problem(404, "Not found", "The requested resource could not be found.")
    if (answer := (await fire_fault(state, "submit", model, "pre", request=request))[1]) is not None:
        return answer
    try:
        body = json.loads(await request.body() or b"{}")
        inp = body.get("input") if isinstance(body, dict) else None
        if not isinstance(inp, dict):
            raise Invalid("input", "input is required and must be an object")
        frame = _parse(state, inp, offer)
    except ValueError:
        return _problem(400, "Bad request", "The request body is not valid JSON.")
    except Invalid as exc:
        return exc.response()
    fault, answer = await fire_fault(state, "submit", model, "outcome")
    if answer is not None:
        return answer
    now = state.clock.now()
    task = Task(
        id=new_short_id(26),
        provider=REPLICATE,
        model=model,
        mode="predict",
        credential=cred,
        created_at=now,
        ready_at=now + state.draw_latency(),
        outcome=(fault.outcome() if fault else None) or Outcome.from_prompt(frame.prompt),
        frame=frame,
        params={k: _echoed(request, state, v) if k in FILE_INPUTS else v for k, v in inp.items()},
    )
    state.tasks.start(task)
    state.stats_counters.submit(cred, model, None)
    if (answer := (await fire_fault(state, "submit", model, "after", request=request))[1]) is not None:
        return answer
    wait_s = prefer_wait(request.headers.get("prefer"))
    if wait_s:
        return JSONResponse(await _held_prediction(request, state, task, wait_s), status_code=201)
    return JSONResponse(_prediction(request, state, task), status_code=201)


def _echoed(request: Request, state: EmulatorState, value: Any) -> Any:
    """A file input as a prediction shows it: a data URI becomes the URL of a stored copy, a URL stays."""
    if isinstance(value, list):
        return [_echoed(request, state, v) for v in value]
    data = decode_data_uri(value) if isinstance(value, str) and value.startswith("data:") else None
    if data is None:
        return value
    assert isinstance(value, str)
    token = state.tasks.upload(data, "input", value[5:].split(";", 1)[0] or "application/octet-stream")
    return f"{base_url(request)}/_emulator/uploads/{token}/input"


def prefer_wait(header: str | None) -> float:
    """Seconds a ``Prefer: wait`` / ``Prefer: wait=N`` header asks the server to hold the answer (1-60), else 0."""
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() != "wait":
            continue
        value = value.strip()
        if not value:
            return float(MAX_WAIT_S)
        return float(min(max(int(value), 1), MAX_WAIT_S)) if value.isdigit() else 0.0
    return 0.0


async def _held_prediction(request: Request, state: EmulatorState, task: Task, wait_s: float) -> dict[str, Any]:
    """``Prefer: wait``: answer once the prediction has finished, or after ``wait_s`` of the emulator's clock (or
    of real time, whichever ends first) with status "starting", as Replicate does. Never "processing": the
    official client reads a non-"starting" answer to a blocking create as final."""
    clock_deadline = state.clock.now() + wait_s
    real_deadline = time.monotonic() + wait_s
    while state.tasks.resolve(task) is None:
        if state.clock.now() >= clock_deadline or time.monotonic() >= real_deadline:
            return {**_prediction(request, state, task), "status": "starting"}
        await asyncio.sleep(HOLD_POLL_S)
    return _prediction(request, state, task)


def _parse(state: EmulatorState, inp: dict[str, Any], offer: Offer) -> Frame:
    prompt = inp.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise Invalid("prompt", "prompt is required")
    aspect = inp.get("aspect_ratio", "16:9")
    if aspect not in offer.aspect_ratios:
        raise Invalid("aspect_ratio", f"aspect_ratio must be one of: {', '.join(offer.aspect_ratios)}")
    duration = inp.get("duration", 8)
    if duration not in offer.durations or isinstance(duration, bool):
        raise Invalid("duration", f"duration must be one of: {', '.join(map(str, offer.durations))}")
    resolution = inp.get("resolution", "1080p")
    if resolution not in offer.resolutions:
        raise Invalid("resolution", f"resolution must be one of: {', '.join(offer.resolutions)}")
    audio, seed = inp.get("generate_audio", True), inp.get("seed")
    if not isinstance(audio, bool):
        raise Invalid("generate_audio", "generate_audio must be a boolean")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise Invalid("seed", "seed must be an integer")
    image = _image(state, inp, "image")
    last = _image(state, inp, "last_frame")
    refs = inp.get("reference_images") or []
    if refs:
        if "reference_images" not in offer.features:
            raise Invalid("reference_images", f"{offer.model} does not take reference images")
        if not isinstance(refs, list) or len(refs) > offer.max_reference_images:
            raise Invalid("reference_images", f"1 to {offer.max_reference_images} reference images")
        if aspect != "16:9" or duration != 8:
            raise Invalid("reference_images", "reference images only work with 16:9 and an 8 second duration")
        for i, ref in enumerate(refs):
            _image(state, {f"reference_images.{i}": ref}, f"reference_images.{i}")
    if last is not None and image is None:
        raise Invalid("last_frame", "last_frame needs image (the first frame)")
    w, h = state.catalog.dims(resolution, aspect)
    return Frame(
        prompt,
        w,
        h,
        float(duration),
        audio,
        seed if seed is not None else state.config.seed,
        image,
        None if refs else last,
    )


def _image(state: EmulatorState, inp: dict[str, Any], field: str) -> bytes | None:
    if inp.get(field) is None:
        return None
    data = fetch_input(state, inp[field])
    if data is None:
        raise Invalid(field, "could not fetch the file (give a data URI or a reachable URL)")
    if (problem := image_problem(data)) is not None:
        raise Invalid(field, problem)
    return data


def _prediction(request: Request, state: EmulatorState, task: Task) -> dict[str, Any]:
    phase = state.tasks.phase(task)
    done = state.tasks.resolve(task)
    root = f"{base_url(request)}/v1/predictions/{task.id}"
    doc: dict[str, Any] = {
        "id": task.id,
        "model": task.model,
        "version": "hidden",
        "input": task.params,
        "logs": "",
        "output": None,
        "error": None,
        "status": "starting" if phase == "queued" else "processing",
        "data_removed": False,
        "created_at": rfc3339(task.created_at),
        "started_at": None,
        "completed_at": None,
        "urls": {
            "get": root,
            "cancel": f"{root}/cancel",
            "stream": f"{root}/stream",
            "web": f"https://replicate.com/p/{task.id}",
        },
        "metrics": {},
    }
    if phase != "queued":
        doc["started_at"] = rfc3339(task.created_at + (task.ready_at - task.created_at) / 4)
    if done is None:
        return doc
    doc["completed_at"] = rfc3339(done.done_at)
    doc["metrics"] = {"predict_time": round(done.done_at - task.created_at, 3)}
    if done.state == "succeeded":
        return {**doc, "status": "succeeded", "output": tmp_url(request, done.tokens["main"])}
    if done.state == "canceled":
        return {**doc, "status": "canceled"}
    error = FLAGGED if done.state == "filtered" else f"Prediction failed: {done.message}"
    return {**doc, "status": "failed", "error": error}


def _task(state: EmulatorState, request: Request, cred: str) -> Task | None:
    task = state.tasks.get(request.path_params["prediction_id"], REPLICATE)
    return task if task is not None and task.credential == cred else None


async def get(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _unauthenticated()
    if (task := _task(state, request, cred)) is None:
        return _problem(404, "Not found", "The requested resource could not be found.")
    state.stats_counters.poll()
    if (answer := (await fire_fault(state, "poll", task.model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "poll", task.model, "body")
    if answer is not None:
        return answer
    return json_with_files(_prediction(request, state, task), fault=fault)


async def listing(request: Request) -> Response:
    """``predictions.list``: newest first, the page after ``cursor`` (an opaque offset here) linked by ``next``
    as a full URL, which the official client requests as given."""
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _unauthenticated()
    mine = sorted(
        (t for t in state.tasks.all() if t.provider == REPLICATE and t.credential == cred),
        key=lambda t: (t.created_at, t.id),
        reverse=True,
    )
    cursor = request.query_params.get("cursor", "0")
    if not cursor.isdigit():
        return _problem(400, "Bad request", "Invalid cursor.")
    start = int(cursor)
    page = mine[start : start + PAGE_SIZE]
    root = f"{base_url(request)}/v1/predictions"
    return JSONResponse(
        {
            "next": f"{root}?cursor={start + PAGE_SIZE}" if start + PAGE_SIZE < len(mine) else None,
            "previous": f"{root}?cursor={max(0, start - PAGE_SIZE)}" if start > 0 else None,
            "results": [_prediction(request, state, t) for t in page],
        }
    )


async def cancel(request: Request) -> Response:
    state = emulator_state(request)
    if (cred := _caller(state, request)) is None:
        return _unauthenticated()
    if (task := _task(state, request, cred)) is None:
        return _problem(404, "Not found", "The requested resource could not be found.")
    state.tasks.cancel(task)
    return JSONResponse(_prediction(request, state, task))


async def model(request: Request) -> Response:
    state = emulator_state(request)
    if _caller(state, request) is None:
        return _unauthenticated()
    name = f"{request.path_params['owner']}/{request.path_params['name']}"
    offer = state.catalog.find(REPLICATE, name)
    if offer is None:
        return _problem(404, "Not found", "The requested resource could not be found.")
    runs = sum(1 for t in state.tasks.all() if t.provider == REPLICATE and t.model == name)
    return JSONResponse(model_doc(offer, runs))


routes = [
    Route("/v1/models/{owner}/{name}", model, methods=["GET"]),
    Route("/v1/models/{owner}/{name}/predictions", create, methods=["POST"]),
    Route("/v1/predictions", listing, methods=["GET"]),
    Route("/v1/predictions/{prediction_id}", get, methods=["GET"]),
    Route("/v1/predictions/{prediction_id}/cancel", cancel, methods=["POST"]),
]
