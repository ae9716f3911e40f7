"""Kie.ai's Veo 3.1 API, as veokit's Kie provider and Kie's docs know it.

    POST /api/v1/veo/generate                      -> {"code":200,"msg":"success","data":{"taskId":...}}
    GET  /api/v1/veo/record-info?taskId=           successFlag 0 generating, 1 success, 2 failed, 3 generation failed
    GET  /api/v1/veo/get-1080p-video?taskId=&index=0   code 400 "1080P is processing…" until ready, then resultUrl
    POST /api/v1/veo/extend                        {taskId, prompt, model:"fast"} -> a new taskId
    GET  /api/v1/chat/credit                       {"code":200,"data":<credits>}
    POST /api/file-base64-upload                   {base64Data, uploadPath, fileName} -> data.downloadUrl

Like Kie, errors come back as **HTTP 200** with the error in ``code``: 401 for a missing or wrong key, 402 when
the key's credits do not cover the task, 422 for invalid input or an unknown task. Each key starts with
``kie_credits``; a generation costs the catalog's credits (an extension 60, a 1080p upgrade the difference),
refunded if the task fails. Both spellings Kie's docs use are accepted: ``aspect_ratio``/``aspectRatio``,
``seeds``/``seed``.
"""

from __future__ import annotations

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
    decode_data_uri,
    fetch_input,
    header_secret,
    image_problem,
    probe_input_video,
    tmp_url,
)
from veokit.emulator.tasks import Frame, Task
from veokit.models.catalog import Offer

KIE = "kie"
EXTENSION_ADDS_S = 7.0
EXTEND_MODEL = "veo3_fast"  # Kie's extend endpoint runs the Fast model ("model": "fast")
SEEDS = range(10000, 100000)
IMAGE_FETCH_FAILED = (
    451,
    "Failed to fetch the image. Kindly verify any access limits set by you or your service provider.",
)
MAX_UPLOAD_BYTES = 25 * 2**20
GENERATE_FLAGS = ("enableTranslation", "enableFallback")  # [KIE] booleans; enableFallback is deprecated
MAX_WATERMARK = 200
# Kie reports a safety block in its own words (its callback docs list the 400 messages), not Google's reason.
KIE_FLAGGED = "Your prompt was flagged by Website as violating content policies."


def envelope(code: int, msg: str, data: Any = None) -> JSONResponse:
    """Kie's answer shape: always HTTP 200, the outcome in ``code``."""
    return JSONResponse({"code": code, "msg": msg, "data": data})


def _caller(state: EmulatorState, request: Request) -> str | None:
    return check_secret(state, KIE, header_secret(request, "bearer"))


def _unauthorized() -> JSONResponse:
    return envelope(401, "You do not have access permissions")


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        doc = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


# -- generate ------------------------------------------------------------------------------------------------
async def generate(request: Request) -> Response:
    state = emulator_state(request)
    cred = _caller(state, request)
    if cred is None:
        return _unauthorized()
    if (answer := (await fire_fault(state, "submit", None, "pre", request=request))[1]) is not None:
        return answer
    body = await _body(request)
    if body is None:
        return envelope(422, "Invalid JSON body")
    model = str(body.get("model") or "veo3_fast")
    offer = state.catalog.find(KIE, model)
    if offer is None or offer.lifecycle.is_retired(state.config.today()):
        return envelope(422, f"model {model} is not supported; use veo3, veo3_fast or veo3_lite")
    problem, frame, failure = _parse_generate(state, body, offer)
    if problem is not None:
        return envelope(422, problem)
    assert frame is not None
    fault, answer = await fire_fault(state, "submit", model, "outcome")
    if answer is not None:
        return answer
    credits = (offer.credits or {}).get("720p", 0.0)
    if not state.tasks.charge(cred, credits):
        return envelope(402, "The current credit is insufficient. Please top up.")
    task = Task(
        id=uuid.uuid4().hex,
        provider=KIE,
        model=model,
        mode=str(body.get("generationType")),
        credential=cred,
        created_at=state.clock.now(),
        ready_at=state.clock.now() + state.draw_latency(),
        outcome=(fault.outcome() if fault else None) or Outcome.from_prompt(frame.prompt),
        frame=frame,
        params=_echo(body),
        failure=failure,
        credits=credits,
    )
    state.tasks.start(task)
    state.stats_counters.submit(cred, model, None)
    if (answer := (await fire_fault(state, "submit", model, "after", request=request))[1]) is not None:
        return answer
    return envelope(200, "success", {"taskId": task.id})


def _parse_generate(
    state: EmulatorState, body: dict[str, Any], offer: Offer
) -> tuple[str | None, Frame | None, tuple[int, str] | None]:
    """(problem, frame, failure): a 422 message, or what to render (and a failure decided up front)."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required", None, None
    if (problem := _extras_problem(body, GENERATE_FLAGS)) is not None:
        return problem, None, None
    aspect = body.get("aspect_ratio", body.get("aspectRatio")) or "16:9"
    aspect = "16:9" if aspect == "Auto" else aspect
    if aspect not in offer.aspect_ratios:
        return f"aspect_ratio must be one of 16:9, 9:16, Auto (got {aspect})", None, None
    seed = body.get("seeds", body.get("seed"))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed not in SEEDS):
        return "seeds must be an integer between 10000 and 99999", None, None
    urls = body.get("imageUrls") or []
    gtype = body.get("generationType") or ("FIRST_AND_LAST_FRAMES_2_VIDEO" if urls else "TEXT_2_VIDEO")
    limits = {"TEXT_2_VIDEO": (0, 0), "FIRST_AND_LAST_FRAMES_2_VIDEO": (1, 2), "REFERENCE_2_VIDEO": (1, 3)}
    if gtype not in limits:
        return f"generationType {gtype} is not supported", None, None
    if gtype == "REFERENCE_2_VIDEO" and "reference_images" not in offer.features:
        return f"REFERENCE_2_VIDEO is not supported by model {offer.model}", None, None
    lo, hi = limits[gtype]
    if not isinstance(urls, list) or not lo <= len(urls) <= hi:
        return f"{gtype} takes {lo} to {hi} imageUrls", None, None
    images = [fetch_input(state, u, data_uris=False) for u in urls]
    failure = None
    if any(img is None or image_problem(img) for img in images):
        failure = IMAGE_FETCH_FAILED  # Kie accepts the task, then fails it when it cannot fetch an image
    frames = images if gtype == "FIRST_AND_LAST_FRAMES_2_VIDEO" and failure is None else []
    w, h = state.catalog.dims("720p", aspect)
    return (
        None,
        Frame(
            prompt,
            w,
            h,
            8.0,
            True,
            seed if seed is not None else state.config.seed,
            first_frame=frames[0] if frames else None,
            last_frame=frames[1] if len(frames) > 1 else None,
        ),
        failure,
    )


def _extras_problem(body: dict[str, Any], flags: tuple[str, ...]) -> str | None:
    """Kie's optional fields, type-checked as its validation does (a 422); the values are recorded with the
    task (``paramJson``, ``/_emulator/tasks``) so a test can see what arrived."""
    for name in flags:
        if name in body and not isinstance(body[name], bool):
            return f"{name} must be a boolean"
    watermark = body.get("watermark")
    if watermark is not None and (not isinstance(watermark, str) or len(watermark) > MAX_WATERMARK):
        return f"watermark must be a string of at most {MAX_WATERMARK} characters"
    return None


def _echo(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "callBackUrl"}


# -- record-info and get-1080p-video ---------------------------------------------------------------------------
def _task(state: EmulatorState, request: Request, cred: str) -> Task | None:
    task = state.tasks.get(str(request.query_params.get("taskId") or ""), KIE)
    return task if task is not None and task.credential == cred else None


async def record_info(request: Request) -> Response:
    state = emulator_state(request)
    cred = _caller(state, request)
    if cred is None:
        return _unauthorized()
    task = _task(state, request, cred)
    if task is None:
        return envelope(422, "record is null")
    state.stats_counters.poll()
    if (answer := (await fire_fault(state, "poll", task.model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "poll", task.model, "body")
    if answer is not None:
        return answer
    return json_with_files({"code": 200, "msg": "success", "data": _record(request, state, task)}, fault=fault)


def _record(request: Request, state: EmulatorState, task: Task) -> dict[str, Any]:
    result = state.tasks.resolve(task)
    data: dict[str, Any] = {
        "taskId": task.id,
        "paramJson": json.dumps(task.params),
        "createTime": int(task.created_at * 1000),
        "completeTime": int(result.done_at * 1000) if result else None,
        "successFlag": 0,
        "response": None,
        "errorCode": None,
        "errorMessage": "",
        "fallbackFlag": False,
    }
    if result is None:
        return data
    if result.state == "succeeded":
        urls = {role: tmp_url(request, token) for role, token in result.tokens.items()}
        response: dict[str, Any] = {
            "taskId": task.id,
            "resultUrls": [urls.get("segment", urls["main"])],
            "originUrls": [],
            "resolution": "720p",
        }
        if "segment" in urls:  # an extension: the new part, and the whole video
            response["fullResultUrls"] = [urls["main"]]
        return {**data, "successFlag": 1, "response": response}
    # 2: failed before generating (e.g. an input could not be fetched); 3: the generation itself failed.
    flag = 2 if result.code == IMAGE_FETCH_FAILED[0] or result.state == "canceled" else 3
    message = KIE_FLAGGED if result.state == "filtered" else result.message
    return {**data, "successFlag": flag, "errorCode": result.code, "errorMessage": message}


async def get_1080p(request: Request) -> Response:
    state = emulator_state(request)
    cred = _caller(state, request)
    if cred is None:
        return _unauthorized()
    task = _task(state, request, cred)
    if task is None:
        return envelope(422, "record is null")
    state.stats_counters.poll()
    if (answer := (await fire_fault(state, "poll", task.model, "pre", request=request))[1]) is not None:
        return answer
    if str(request.query_params.get("index", "0")) != "0":
        return envelope(422, "index out of range: this task has one video")
    result = state.tasks.resolve(task)
    if result is None or result.state != "succeeded" or task.mode == "extend":
        return envelope(422, "Only successfully generated videos can be upgraded to 1080P")
    if task.upgrade is None:
        offer = state.catalog.find(KIE, task.model)
        price = (offer.credits or {}) if offer else {}
        extra = price.get("1080p", 0.0) - price.get("720p", 0.0)
        if not state.tasks.charge(cred, extra):
            return envelope(402, "The current credit is insufficient. Please top up.")
        aspect = "16:9" if task.frame.width > task.frame.height else "9:16"
        w, h = state.catalog.dims("1080p", aspect)
        state.tasks.request_upgrade(
            task,
            Frame(
                task.frame.prompt,
                w,
                h,
                task.frame.duration_s,
                True,
                task.frame.seed,
                task.frame.first_frame,
                task.frame.last_frame,
            ),
        )
    token = state.tasks.upgrade_token(task)
    if token is None:
        return envelope(400, "1080P is processing. It should be ready in 1-2 minutes. Please check back shortly.")
    return envelope(200, "success", {"resultUrl": tmp_url(request, token)})


# -- extend ----------------------------------------------------------------------------------------------------
async def extend(request: Request) -> Response:
    state = emulator_state(request)
    cred = _caller(state, request)
    if cred is None:
        return _unauthorized()
    if (answer := (await fire_fault(state, "submit", EXTEND_MODEL, "pre", request=request))[1]) is not None:
        return answer
    body = await _body(request)
    if body is None:
        return envelope(422, "Invalid JSON body")
    parent = state.tasks.get(str(body.get("taskId") or ""), KIE)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return envelope(422, "prompt is required")
    if parent is None or parent.credential != cred:
        return envelope(422, "record is null")
    if (problem := _extras_problem(body, ())) is not None:  # extend takes a watermark, not the generate flags
        return envelope(422, problem)
    done = state.tasks.resolve(parent)
    if done is None or done.state != "succeeded":
        return envelope(422, "Only successfully generated videos can be extended")
    if body.get("model", "fast") not in ("fast", EXTEND_MODEL):
        return envelope(422, "model must be fast")
    source = parent.renders["main"].result()
    info = await probe_input_video(state, source.path.read_bytes())
    if info is None:
        return envelope(500, "The source video could not be read")
    fault, answer = await fire_fault(state, "submit", EXTEND_MODEL, "outcome")
    if answer is not None:
        return answer
    offer = state.catalog.find(KIE, EXTEND_MODEL)
    credits = (offer.credits or {}).get("720p", 0.0) if offer else 0.0
    if not state.tasks.charge(cred, credits):
        return envelope(402, "The current credit is insufficient. Please top up.")
    seed = body.get("seeds", body.get("seed"))
    full = Frame(
        prompt,
        parent.frame.width,
        parent.frame.height,
        info[0] + EXTENSION_ADDS_S,
        True,
        seed if isinstance(seed, int) else parent.frame.seed,
        # Kie's whole video is the source followed by the new seconds (the segment is the new seconds alone).
        extends=str(source.path),
        extends_sha256=source.sha256_b64,
    )
    segment = Frame(prompt, full.width, full.height, EXTENSION_ADDS_S, True, full.seed)
    task = Task(
        id=uuid.uuid4().hex,
        provider=KIE,
        model=EXTEND_MODEL,
        mode="extend",
        credential=cred,
        created_at=state.clock.now(),
        ready_at=state.clock.now() + state.draw_latency(),
        outcome=(fault.outcome() if fault else None) or Outcome.from_prompt(prompt),
        frame=full,
        params=_echo(body),
        credits=credits,
    )
    state.tasks.start(task, extra={"segment": segment})
    state.stats_counters.submit(cred, EXTEND_MODEL, None)
    if (answer := (await fire_fault(state, "submit", EXTEND_MODEL, "after", request=request))[1]) is not None:
        return answer
    return envelope(200, "success", {"taskId": task.id})


# -- credits and uploads ---------------------------------------------------------------------------------------
async def credit(request: Request) -> Response:
    state = emulator_state(request)
    cred = _caller(state, request)
    if cred is None:
        return _unauthorized()
    return envelope(200, "success", state.tasks.balance(cred))


async def upload_base64(request: Request) -> Response:
    state = emulator_state(request)
    if _caller(state, request) is None:
        return JSONResponse({"success": False, "code": 401, "msg": "Unauthorized"}, status_code=401)
    body = await _body(request)
    raw = body.get("base64Data") if body else None
    if not isinstance(raw, str) or not raw:
        return JSONResponse({"success": False, "code": 400, "msg": "base64Data is required"}, status_code=400)
    data = decode_data_uri(raw if raw.startswith("data:") else f"data:;base64,{raw}")
    if data is None or len(data) > MAX_UPLOAD_BYTES:
        return JSONResponse(
            {"success": False, "code": 400, "msg": "base64Data is not valid base64 (or too large)"}, status_code=400
        )
    assert body is not None
    name = str(body.get("fileName") or f"{uuid.uuid4().hex}.bin").rsplit("/", 1)[-1]
    mime = raw[5:].split(";", 1)[0] if raw.startswith("data:") else "application/octet-stream"
    token = state.tasks.upload(data, name, mime or "application/octet-stream")
    path = f"{str(body.get('uploadPath') or '').strip('/')}/{name}".lstrip("/")
    return JSONResponse(
        {
            "success": True,
            "code": 200,
            "msg": "File uploaded successfully",
            "data": {
                "fileName": name,
                "filePath": path,
                "downloadUrl": f"{base_url(request)}/_emulator/uploads/{token}/{name}",
                "fileSize": len(data),
                "mimeType": mime,
                "uploadedAt": rfc3339(state.clock.now()),
            },
        }
    )


routes = [
    Route("/api/v1/veo/generate", generate, methods=["POST"]),
    Route("/api/v1/veo/record-info", record_info, methods=["GET"]),
    Route("/api/v1/veo/get-1080p-video", get_1080p, methods=["GET"]),
    Route("/api/v1/veo/extend", extend, methods=["POST"]),
    Route("/api/v1/chat/credit", credit, methods=["GET"]),
    Route("/api/file-base64-upload", upload_base64, methods=["POST"]),
]
