"""Gemini Omni through the Interactions API, on both Google hosts, with Veo's renderer, faults and clock.

Routes (what google-genai 3.4.0 calls)::

    Gemini API     POST /{v1|v1beta}/interactions                         key (x-goog-api-key or ?key=)
                   GET  /{v1|v1beta}/interactions/{id}[?stream=false]     key
                   POST /{v1|v1beta}/interactions/{id}/cancel             key
                   GET  /v1/models/{model}                                key (models.get; Omni models)
    Vertex         POST /{v1|v1beta1}/projects/{p}/locations/{l}/interactions[/{id}[/cancel]]   bearer or key
    Vertex express POST /v1beta1/interactions[/{id}[/cancel]]                                    key or bearer
                   GET  /{v}/publishers/google/models/{model}             (vertex.py's: catalog rows on host vertex)

A create needs ``background: true`` and answers ``in_progress`` at once; GET answers ``in_progress`` until the
latency has elapsed on the emulator clock and the render is done, then ``completed`` with the video in a
``model_output`` step, inline (base64, streamed from disk) or as a URI (a Gemini Files API URI whose download
needs the key, or a ``gs://`` object in the request's ``gcs_uri``), and ``usage`` in tokens from the catalog's
token table. Failures are ``failed`` with ``errors: [{"code", "message"}]``: ``safety`` for a blocked video
(``[emulate:filtered]``), ``api_error`` for a failed one (``[emulate:failed]``). Errors are answered in the
Interactions shape ``{"error": {"code": "invalid_request", "message": ...}}``; credential failures come from
Google's front end and keep the google.rpc shape. The routes ``submit``, ``poll`` and ``download`` take the
same scripted faults, quota and latency controls as the Veo routes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.auth import GEMINI_SERVICE, VERTEX_SERVICE, require_key, require_key_or_bearer
from veokit.emulator.clock import rfc3339
from veokit.emulator.errors import RpcError, not_found
from veokit.emulator.gemini import file_uri
from veokit.emulator.interactions import Billing, Host, Interaction, InteractionResult
from veokit.emulator.media_inputs import MediaRef
from veokit.emulator.omni_request import InteractionsError, OmniRequest, invalid, parse_create, reshape
from veokit.emulator.outcome import Outcome
from veokit.emulator.quota import check_quota
from veokit.emulator.render import RenderSpec
from veokit.emulator.render_pool import LargeSpec
from veokit.emulator.routing import emulator_state, fire_fault, read_json
from veokit.emulator.state import EmulatorState, new_short_id
from veokit.emulator.streaming import Base64File, json_with_files
from veokit.media.probe import CorruptMediaError, probe_mp4
from veokit.models.catalog import Offer

CATALOG = {"gemini": "omni", "vertex": "omni-vertex"}  # the catalog's provider for each host
GEMINI_VERSIONS = ("v1", "v1beta")
VERTEX_VERSIONS = ("v1", "v1beta1")
EXTENSION_TAIL_S = 30.0  # [VX-EXTEND] the extension is joined onto up to the last 30 s of the input
EXTENSION_CONTEXT_S = 10.0  # ... of which up to the last 10 s are read as context
UINT32 = 2**32


# -- where a request is addressed -----------------------------------------------------------------------
def _short(request: Request) -> tuple[Host, str, str]:
    """(host, collection, credential) for ``/{v}/interactions…``: v1/v1beta the Gemini API, v1beta1 Vertex express."""
    state = emulator_state(request)
    version = request.path_params["version"]
    if version in GEMINI_VERSIONS:
        return "gemini", "interactions", require_key(state, request, GEMINI_SERVICE)
    if version == "v1beta1":
        cred = require_key_or_bearer(state, request, VERTEX_SERVICE, oauth_first=False)
        return "vertex", "interactions", cred
    raise not_found(f"API version {version} is not supported.")


def _project(request: Request) -> tuple[Host, str, str]:
    state = emulator_state(request)
    p = request.path_params
    if p["version"] not in VERTEX_VERSIONS:
        raise not_found(f"API version {p['version']} is not supported.")
    cred = require_key_or_bearer(state, request, VERTEX_SERVICE, oauth_first=True)
    return "vertex", f"projects/{p['project']}/locations/{p['location']}/interactions", cred


def _find_offer(state: EmulatorState, host: Host, model: Any) -> Offer:
    if not isinstance(model, str) or not model:
        raise invalid("model is required")
    model = model.removeprefix("models/")
    offer = state.catalog.find(CATALOG[host], model)
    if offer is None:
        raise InteractionsError("model_not_found", f"Model {model} was not found.", http_status=404)
    lc = offer.lifecycle
    if lc.is_retired(state.config.today()):
        use = f" Please use {lc.replacement} instead." if lc.replacement else ""
        message = f"models/{model} is no longer available. It was shut down on {lc.retired_on}.{use}"
        raise InteractionsError("model_not_found", message, http_status=404)
    return offer


# -- create ---------------------------------------------------------------------------------------------
async def create_short(request: Request) -> Response:
    return await _create(request, *_short(request))


async def create_project(request: Request) -> Response:
    return await _create(request, *_project(request))


async def _create(request: Request, host: Host, collection: str, cred: str) -> Response:
    """Validate, fault, quota, accept; fault stages as for Veo's ``predictLongRunning`` (see submit.py)."""
    state = emulator_state(request)
    try:
        body = await read_json(request)
        offer = _find_offer(state, host, body.get("model") if isinstance(body, dict) else None)
        if (answer := (await fire_fault(state, "submit", offer.model, "pre", request=request))[1]) is not None:
            return reshape(answer)
        req = parse_create(body, host, offer, state.catalog)
        fault, answer = await fire_fault(state, "submit", offer.model, "outcome")
        if answer is not None:
            return reshape(answer)
        check_quota(state, cred)
        item = await _start(state, req, host, collection, cred, fault.outcome() if fault else None)
    except RpcError as exc:  # the shared helpers (JSON body, images, quota) speak google.rpc
        raise InteractionsError.from_rpc(exc) from None
    state.stats_counters.submit(cred, offer.model, request.headers.get("x-goog-user-project"))
    if (answer := (await fire_fault(state, "submit", offer.model, "after", request=request))[1]) is not None:
        return reshape(answer)
    return JSONResponse(_document(request, item, None))


async def _start(
    state: EmulatorState, req: OmniRequest, host: Host, collection: str, cred: str, outcome: Outcome | None
) -> Interaction:
    images = [await _image(state, host, ref, f"input.image[{i}]") for i, ref in enumerate(req.images)]
    input_s = None
    if req.task == "extend":
        input_s = await _extension_source(state, req, host, collection, cred)
    duration = float(req.duration_s) + (min(input_s, EXTENSION_TAIL_S) if input_s is not None else 0.0)
    chosen = outcome or req.outcome
    now = state.clock.now()
    item = Interaction(
        id=f"v1_{new_short_id(24)}",
        host=host,
        collection=collection,
        model=req.model,
        credential=cred,
        created_at=now,
        ready_at=now + state.draw_latency(),
        outcome=chosen,
        delivery=req.delivery,
        gcs_uri=req.gcs_uri,
        duration_s=duration,
        billing=_billing(req, len(images), input_s),
        echo=req.echo,
        prompt=req.prompt,
    )
    if chosen.kind not in ("filtered", "failed"):
        seed = (req.seed if req.seed is not None else state.config.seed) % UINT32
        if chosen.kind == "large":
            item.recipe = LargeSpec(chosen.min_bytes, req.width, req.height, seed, duration_s=duration, audio=True)
        else:
            frames = images if req.task == "image_to_video" else []
            item.recipe = RenderSpec(
                prompt=req.prompt,
                width=req.width,
                height=req.height,
                duration_s=duration,
                fps=24,
                audio=True,  # Omni always generates sound
                seed=seed,
                first_frame=frames[0] if frames else None,
                last_frame=frames[1] if len(frames) > 1 else None,
                label=f"{req.model} {req.task}",
            )
        item.render = state.renders.submit(item.recipe)
    return state.interactions.add(item)


def _billing(req: OmniRequest, n_images: int, input_s: float | None) -> Billing:
    tp = req.offer.token_price
    assert tp is not None, f"{req.model} has no token price in the catalog"
    by_modality = {"text": math.ceil(len(req.prompt) / tp.chars_per_text_token)}
    if n_images:
        by_modality["image"] = n_images * tp.image_input_tokens
    if input_s is not None:
        by_modality["video"] = round(min(input_s, EXTENSION_CONTEXT_S) * tp.video_input_tokens_per_second)
    return Billing(
        input_tokens=sum(by_modality.values()),
        input_by_modality=by_modality,
        video_tokens=tp.video_tokens_per_second[req.resolution] * req.duration_s,
        # Omni thinks before it renders: a little text-priced output, so usage differs from a bare estimate.
        thought_tokens=64 + len(req.prompt) % 61,
    )


async def _image(state: EmulatorState, host: Host, ref: MediaRef, field: str) -> bytes:
    if ref.data is not None:
        return ref.data
    uri = ref.uri or ""
    path = None
    if host == "vertex" and uri.startswith("gs://"):
        obj = state.gcs_object_by_uri(uri)
        path = obj.file.path if obj else None
    elif host == "gemini":
        f = state.file_by_uri(uri)
        path = f.file.path if f else None
    if path is None:
        raise invalid(f"{field}.uri: {uri} does not exist or is not readable")
    return await asyncio.to_thread(path.read_bytes)


async def _extension_source(
    state: EmulatorState, req: OmniRequest, req_host: Host, collection: str, cred: str
) -> float:
    """The length of the video being extended: an earlier interaction's, or the given video's."""
    if req.previous_id is not None:
        prev = state.interactions.get(req.previous_id, req_host, collection)
        if prev is None or prev.credential != cred:
            raise InteractionsError("not_found", f"Interaction {req.previous_id} was not found.", http_status=404)
        result = state.interactions.resolve(prev)
        if result is None or result.state != "completed":
            raise invalid(f"previous_interaction_id: interaction {req.previous_id} has not completed with a video")
        return prev.duration_s
    ref = req.video
    assert ref is not None
    if ref.data is not None:
        path = state.inputs_dir / (hashlib.sha256(ref.data).hexdigest() + ".mp4")
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            await asyncio.to_thread(tmp.write_bytes, ref.data)
            tmp.replace(path)
    elif ref.uri and ref.uri.startswith("gs://"):
        obj = state.gcs_object_by_uri(ref.uri)
        if obj is None:
            raise invalid(f"input.video.uri: {ref.uri} does not exist or is not readable")
        path = obj.file.path
    else:
        f = state.file_by_uri(ref.uri or "")
        if f is None:
            raise invalid("input.video.uri: the video does not exist or has expired (files are kept for 2 days)")
        state.touch_file(f)
        path = f.file.path
    try:
        info = await asyncio.to_thread(probe_mp4, path)
    except CorruptMediaError:
        raise invalid("input.video: the video is not a valid MP4 file") from None
    return info.duration_s


# -- read, cancel ---------------------------------------------------------------------------------------
async def get_short(request: Request) -> Response:
    return await _get(request, *_short(request))


async def get_project(request: Request) -> Response:
    return await _get(request, *_project(request))


def _item(request: Request, host: Host, collection: str) -> Interaction:
    state = emulator_state(request)
    item = state.interactions.get(request.path_params["ident"], host, collection)
    if item is None:
        raise InteractionsError(
            "not_found", f"Interaction {request.path_params['ident']} was not found.", http_status=404
        )
    return item


async def _get(request: Request, host: Host, collection: str, cred: str) -> Response:
    state = emulator_state(request)
    state.stats_counters.poll()  # every authenticated poll, whatever it is answered with
    if request.query_params.get("stream", "false").lower() == "true":
        raise invalid("stream: the emulator does not stream interactions; poll with GET")
    item = _item(request, host, collection)
    if (answer := (await fire_fault(state, "poll", item.model, "pre", request=request))[1]) is not None:
        return reshape(answer)
    fault, answer = await fire_fault(state, "poll", item.model, "body")
    if answer is not None:
        return reshape(answer)
    return json_with_files(_document(request, item, state.interactions.resolve(item)), fault=fault)


async def cancel_short(request: Request) -> Response:
    return await _cancel(request, *_short(request))


async def cancel_project(request: Request) -> Response:
    return await _cancel(request, *_project(request))


async def _cancel(request: Request, host: Host, collection: str, cred: str) -> Response:
    state = emulator_state(request)
    item = _item(request, host, collection)
    if not state.interactions.cancel(item):
        raise InteractionsError("failed_precondition", f"Interaction {item.id} has already finished.")
    return JSONResponse(_document(request, item, state.interactions.resolve(item)))


# -- the resource ---------------------------------------------------------------------------------------
def _document(request: Request, item: Interaction, result: InteractionResult | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": item.id,
        "object": "interaction",
        "model": item.model,
        "status": "in_progress" if result is None else result.state,
        "created": rfc3339(item.created_at),
        "updated": rfc3339(item.created_at if result is None else result.done_at),
        "response_format": item.echo["response_format"],
        "generation_config": item.echo["generation_config"],
    }
    if "previous_interaction_id" in item.echo:
        doc["previous_interaction_id"] = item.echo["previous_interaction_id"]
    steps: list[dict[str, Any]] = list(item.echo["input"])
    if result is not None and result.error is not None:
        code, message = result.error
        doc["errors"] = [{"code": code, "message": message}]
    if result is not None and result.video is not None:
        v = result.video
        block: dict[str, Any] = {"type": "video", "mime_type": "video/mp4"}
        if v.file_id is not None:
            block["uri"] = file_uri(request, v.file_id)
        elif v.gcs_uri is not None:
            block["uri"] = v.gcs_uri
        else:
            block["data"] = Base64File(v.file.path, v.file.size)
        signature = base64.b64encode(hashlib.sha256(item.id.encode()).digest()).decode()
        steps += [{"type": "thought", "signature": signature}, {"type": "model_output", "content": [block]}]
    if result is not None and result.billed:
        b = item.billing
        doc["usage"] = {
            "total_input_tokens": b.input_tokens,
            "input_tokens_by_modality": [{"modality": m, "tokens": t} for m, t in b.input_by_modality.items()],
            "total_output_tokens": b.video_tokens,
            "output_tokens_by_modality": [{"modality": "video", "tokens": b.video_tokens}],
            "total_thought_tokens": b.thought_tokens,
            "total_tokens": b.input_tokens + b.video_tokens + b.thought_tokens,
        }
    doc["steps"] = steps
    return doc


# -- models.get (veokit doctor) -------------------------------------------------------------------------
async def model_get(request: Request) -> Response:
    """Gemini API ``GET /v1/models/{model}`` for Omni models (Veo's live on ``/v1beta`` in gemini.py)."""
    state = emulator_state(request)
    require_key(state, request, GEMINI_SERVICE)
    model = request.path_params["model"]
    offer = state.catalog.find("omni", model)
    if offer is None or offer.lifecycle.is_retired(state.config.today()):
        raise not_found(f"models/{model} is not found for API version v1.")
    # Observed live (third party, 2026-07): Omni advertises generateContent although it serves interactions only.
    return JSONResponse(
        {"name": f"models/{model}", "displayName": offer.title, "supportedGenerationMethods": ["generateContent"]}
    )


_PROJECT = "/{version}/projects/{project}/locations/{location}/interactions"
routes = [
    Route("/{version}/interactions", create_short, methods=["POST"]),
    Route("/{version}/interactions/{ident}", get_short, methods=["GET"]),
    Route("/{version}/interactions/{ident}/cancel", cancel_short, methods=["POST"]),
    Route(_PROJECT, create_project, methods=["POST"]),
    Route(_PROJECT + "/{ident}", get_project, methods=["GET"]),
    Route(_PROJECT + "/{ident}/cancel", cancel_project, methods=["POST"]),
    Route("/v1/models/{model}", model_get, methods=["GET"]),
]
