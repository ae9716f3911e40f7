"""Gemini Developer API v1beta: ``predictLongRunning``, operation polling and the Files download.

A download first needs the API key, then (like Google) redirects with 302 to a short-lived signed URL
that needs no key; that URL serves the MP4 with Range support. Files expire ``retention_s`` after the
operation finished, by the emulator clock.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from veokit.emulator.auth import GEMINI_SERVICE, require_key
from veokit.emulator.clock import rfc3339
from veokit.emulator.errors import RpcError, not_found
from veokit.emulator.models import find_offer
from veokit.emulator.operations import Operation, OperationResult, StoredFile
from veokit.emulator.routing import emulator_state, fire_fault
from veokit.emulator.state import EmulatorState
from veokit.emulator.streaming import file_response, json_with_files
from veokit.emulator.submit import accept_submit

RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
_SUBMIT = re.compile(r"(?P<model>[^:/]+):predictLongRunning")
_FILE_REF = re.compile(r"(?P<id>[a-z0-9]+)(?P<download>:download)?")


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def file_uri(request: Request, file_id: str) -> str:
    return f"{_base(request)}/v1beta/files/{file_id}:download?alt=media"


async def submit(request: Request) -> Response:
    m = _SUBMIT.fullmatch(request.path_params["call"])
    if m is None:
        raise not_found("Method not found.")
    model = m.group("model")
    state = emulator_state(request)
    cred = require_key(state, request, GEMINI_SERVICE)
    return await accept_submit(
        state,
        request,
        protocol="gemini",
        model=model,
        cred=cred,
        operation_prefix=f"models/{model}",
        unknown=f"models/{model} is not found for API version v1beta, or is not supported for predictLongRunning. "
        "Call ListModels to see the list of available models and their supported methods.",
    )


async def model_get(request: Request) -> Response:
    """models.get: answers with the model's metadata, or 404 for unknown and shut-down models."""
    model = request.path_params["call"]
    if ":" in model:  # a custom method such as :predictLongRunning takes POST only
        raise HTTPException(405)
    state = emulator_state(request)
    require_key(state, request, GEMINI_SERVICE)
    offer = find_offer(state, "gemini", model, f"models/{model} is not found for API version v1beta.")
    return JSONResponse(
        {
            "name": f"models/{model}",
            "displayName": offer.title,
            "version": "001",
            "supportedGenerationMethods": ["predictLongRunning"],
        }
    )


async def poll(request: Request) -> Response:
    state = emulator_state(request)
    require_key(state, request, GEMINI_SERVICE)
    state.stats_counters.poll()  # every authenticated poll, whatever it is answered with
    model, op_id = request.path_params["model"], request.path_params["op_id"]
    op = state.operation(op_id)
    if op is None or op.protocol != "gemini" or op.model != model:
        raise not_found(f"Operation models/{model}/operations/{op_id} was not found.")
    if (answer := (await fire_fault(state, "poll", model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "poll", model, "body")
    if answer is not None:
        return answer
    return json_with_files(operation_doc(request, op, state.resolve(op)), fault=fault)


def operation_doc(request: Request, op: Operation, result: OperationResult | None) -> dict[str, Any]:
    if result is None:
        return {"name": op.name}
    if result.error is not None:
        code, message = result.error
        return {"name": op.name, "done": True, "error": {"code": code, "message": message}}
    gvr: dict[str, Any] = {}
    if result.videos:  # with a partial block, the videos that passed come with the filtered count
        gvr["generatedSamples"] = [{"video": {"uri": file_uri(request, v.file_id or "")}} for v in result.videos]
    gvr["raiMediaFilteredCount"] = result.filtered_count
    gvr["raiMediaFilteredReasons"] = list(result.filtered_reasons) if result.filtered_count else []
    return {"name": op.name, "done": True, "response": {"@type": RESPONSE_TYPE, "generateVideoResponse": gvr}}


async def file_get(request: Request) -> Response:
    m = _FILE_REF.fullmatch(request.path_params["ref"])
    if m is None:
        raise not_found("Requested entity was not found.")
    state = emulator_state(request)
    require_key(state, request, GEMINI_SERVICE)
    f = state.file(m.group("id"))
    if f is None:
        raise not_found(f"File files/{m.group('id')} was not found or has expired.")
    if m.group("download") or request.url.path.startswith("/download/"):
        return await _redirect(state, request, f)
    return JSONResponse(file_doc(request, f))


async def _redirect(state: EmulatorState, request: Request, f: StoredFile) -> Response:
    # Only faults that answer or delay can fire here; a truncation waits for the content request.
    _, answer = await fire_fault(state, "download", f.model)
    if answer is not None:
        return answer
    return RedirectResponse(f"{_base(request)}/_emulator/content/{state.grant(f)}", status_code=302)


async def content(request: Request) -> Response:
    state = emulator_state(request)
    f, expired = state.redeem(request.path_params["token"])
    if expired:
        raise RpcError("PERMISSION_DENIED", "The signed URL has expired.")
    if f is None:
        raise not_found("Requested entity was not found.")
    if request.method == "HEAD":  # no body moves: neither a download nor a chance for a download fault
        return file_response(request, f.file.path, f.file.size, "video/mp4")
    state.stats_counters.download()  # every request for the bytes, including ones a fault spoils
    if (answer := (await fire_fault(state, "download", f.model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "download", f.model, "body")
    if answer is not None:
        return answer
    return file_response(request, f.file.path, f.file.size, "video/mp4", fault=fault)


def file_doc(request: Request, f: StoredFile) -> dict[str, Any]:
    return {
        "name": f"files/{f.id}",
        "mimeType": "video/mp4",
        "sizeBytes": str(f.file.size),
        "createTime": rfc3339(f.created_at),
        "updateTime": rfc3339(f.created_at),
        "expirationTime": rfc3339(f.expires_at),
        "sha256Hash": f.file.sha256_b64,
        "uri": f"{_base(request)}/v1beta/files/{f.id}",
        "downloadUri": file_uri(request, f.id),
        "state": "ACTIVE",
        "source": "GENERATED",
    }


routes = [
    Route("/v1beta/models/{call}", submit, methods=["POST"]),
    Route("/v1beta/models/{call}", model_get, methods=["GET"]),
    Route("/v1beta/models/{model}/operations/{op_id}", poll, methods=["GET"]),
    # google-genai 3.x's Gemini client defaults to API version v1, where the Files API answers the same.
    *(Route(f"/{v}/files/{{ref}}", file_get, methods=["GET"]) for v in ("v1beta", "v1")),
    *(Route(f"/download/{v}/files/{{ref}}", file_get, methods=["GET"]) for v in ("v1beta", "v1")),
    Route("/_emulator/content/{token}", content, methods=["GET", "HEAD"]),
]
