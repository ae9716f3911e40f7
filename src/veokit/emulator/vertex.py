"""Vertex AI / Agent Platform: ``predictLongRunning`` and ``fetchPredictOperation``.

Both the project path (``/{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:…``,
OAuth bearer) and express mode (``/{v1|v1beta1}/publishers/google/models/{m}:…``, API key) are served;
google-genai uses ``v1beta1``, the REST docs ``v1``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.auth import VERTEX_SERVICE, require_bearer, require_key_or_bearer
from veokit.emulator.errors import invalid_argument, not_found
from veokit.emulator.models import find_offer
from veokit.emulator.operations import Operation, OperationResult
from veokit.emulator.routing import emulator_state, fire_fault, read_json
from veokit.emulator.state import EmulatorState
from veokit.emulator.streaming import Base64File, json_with_files
from veokit.emulator.submit import accept_submit

RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
VERSIONS = ("v1", "v1beta1")
_CALL = re.compile(r"(?P<model>[^:/]+):(?P<method>predictLongRunning|fetchPredictOperation)")


def _parse_call(request: Request) -> tuple[str, str]:
    if request.path_params["version"] not in VERSIONS:
        raise not_found(f"API version {request.path_params['version']} is not supported.")
    m = _CALL.fullmatch(request.path_params["call"])
    if m is None:
        raise not_found("Method not found.")
    return m.group("model"), m.group("method")


async def project_call(request: Request) -> Response:
    model, method = _parse_call(request)
    p, loc = request.path_params["project"], request.path_params["location"]
    resource = f"projects/{p}/locations/{loc}/publishers/google/models/{model}"
    state = emulator_state(request)
    if method == "fetchPredictOperation":
        require_key_or_bearer(state, request, VERTEX_SERVICE, oauth_first=True)
        return await _poll(state, request, model)
    cred = require_bearer(state, request, VERTEX_SERVICE)
    unknown = (
        f"Publisher Model `{resource}` was not found or your project does not have access to it. "
        "Please ensure you are using a valid model version. For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
    )
    return await _submit(state, request, model, resource, unknown, cred)


async def express_call(request: Request) -> Response:
    model, method = _parse_call(request)
    state = emulator_state(request)
    cred = require_key_or_bearer(state, request, VERTEX_SERVICE, oauth_first=False)
    if method == "fetchPredictOperation":
        return await _poll(state, request, model)
    resource = f"publishers/google/models/{model}"
    unknown = f"Publisher Model `{resource}` was not found or your project does not have access to it."
    return await _submit(state, request, model, resource, unknown, cred)


async def _submit(
    state: EmulatorState, request: Request, model: str, resource: str, unknown: str, cred: str
) -> Response:
    return await accept_submit(
        state, request, protocol="vertex", model=model, cred=cred, unknown=unknown, operation_prefix=resource
    )


async def _poll(state: EmulatorState, request: Request, model: str) -> Response:
    state.stats_counters.poll()  # every authenticated poll, whatever it is answered with
    if (answer := (await fire_fault(state, "poll", model, "pre", request=request))[1]) is not None:
        return answer
    body = await read_json(request)
    name = body.get("operationName") if isinstance(body, dict) else None
    if not isinstance(name, str) or "/operations/" not in name:
        raise invalid_argument("operationName is required: the name returned by predictLongRunning")
    op = state.operation(name.rpartition("/operations/")[2])
    if op is None or op.protocol != "vertex" or op.model != model:
        raise not_found(f"Operation {name} was not found.")
    fault, answer = await fire_fault(state, "poll", model, "body")
    if answer is not None:
        return answer
    return json_with_files(operation_doc(op, state.resolve(op)), fault=fault)


def operation_doc(op: Operation, result: OperationResult | None) -> dict[str, Any]:
    """The google.longrunning.Operation JSON; ``done`` is omitted while false, as proto3 JSON does."""
    if result is None:
        return {"name": op.name}
    if result.error is not None:
        # A google.rpc.Status: code, message and (when there are any) details. Unlike an HTTP error body it
        # has no "status" name; clients derive it from the numeric code.
        code, message = result.error
        return {"name": op.name, "done": True, "error": {"code": code, "message": message}}
    response: dict[str, Any] = {"@type": RESPONSE_TYPE, "raiMediaFilteredCount": result.filtered_count}
    if result.filtered_count:
        response["raiMediaFilteredReasons"] = list(result.filtered_reasons)
    if result.videos:  # with a partial block, the videos that passed come with the filtered count
        response["videos"] = [
            {"gcsUri": v.gcs_uri, "mimeType": "video/mp4"}
            if v.gcs_uri is not None
            else {"bytesBase64Encoded": Base64File(v.file.path, v.file.size), "mimeType": "video/mp4"}
            for v in result.videos
        ]
    return {"name": op.name, "done": True, "response": response}


async def model_get(request: Request) -> Response:
    """GET a publisher model: the cheap authenticated call `veokit doctor` uses to check credentials."""
    model = request.path_params["call"]
    if ":" in model:  # a custom method such as :predictLongRunning takes POST only
        raise HTTPException(405)
    state = emulator_state(request)
    require_key_or_bearer(state, request, VERTEX_SERVICE, oauth_first=True)
    resource = f"publishers/google/models/{model}"
    # Every model Vertex serves, whichever API runs it: Veo's rows and the rows the catalog hosts on Vertex.
    hosted = [k for k, meta in state.catalog.providers.items() if meta.get("host") == "vertex"]
    key = next((k for k in hosted if state.catalog.find(k, model) is not None), "vertex")
    offer = find_offer(
        state,
        key,
        model,
        f"Publisher Model `{resource}` was not found or your project does not have access to it.",
    )
    stage = "GA" if offer.lifecycle.status == "ga" else "PUBLIC_PREVIEW"
    return JSONResponse(
        {"name": resource, "versionId": "001", "launchStage": stage, "openSourceCategory": "PROPRIETARY"}
    )


routes = [
    Route(
        "/{version}/projects/{project}/locations/{location}/publishers/google/models/{call}",
        project_call,
        methods=["POST"],
    ),
    Route("/{version}/publishers/google/models/{call}", model_get, methods=["GET"]),
    Route("/{version}/publishers/google/models/{call}", express_call, methods=["POST"]),
]
