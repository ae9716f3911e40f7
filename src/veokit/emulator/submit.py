"""Turn a validated request into an operation: resolve input media, start the renders, set the clock.

Rendering starts at submit time (as generation does on Google's side), so by the time the latency
has elapsed the video is usually ready and polls never wait on the encoder.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from veokit.emulator.errors import invalid_argument
from veokit.emulator.generation import GenerationRequest, parse_generation
from veokit.emulator.media_inputs import MediaRef, Protocol, check_image
from veokit.emulator.models import find_offer
from veokit.emulator.operations import Operation
from veokit.emulator.outcome import Outcome
from veokit.emulator.quota import check_quota
from veokit.emulator.render import RenderSpec
from veokit.emulator.render_pool import LargeSpec, Recipe
from veokit.emulator.routing import fire_fault, read_json
from veokit.emulator.state import EmulatorState, new_short_id
from veokit.media.probe import CorruptMediaError, probe_mp4

EXTENSION_ADDS_S = 7.0  # each Veo 3.1 extension step adds 7 s ([VEO])
MAX_EXTENSION_INPUT_S = 141.0
UINT32 = 2**32
MAX_IMAGE_BYTES = 20 * 2**20  # Vertex's documented input-image ceiling


@dataclass(frozen=True)
class InputVideo:
    duration_s: float
    width: int
    height: int
    path: Path
    sha256: str


async def create_operation(
    state: EmulatorState,
    req: GenerationRequest,
    *,
    credential: str,
    name_for: Callable[[str], str],
    outcome: Outcome | None = None,
) -> Operation:
    """Resolve inputs, start rendering and register the operation; ``name_for(id)`` builds its name."""
    image = _resolve_image(state, req.image, "instances[0].image")
    last = _resolve_image(state, req.last_frame, "instances[0].lastFrame")
    duration = float(req.duration_s)
    source: InputVideo | None = None
    if req.video is not None:
        source = await _resolve_video(state, req)
        duration = source.duration_s + EXTENSION_ADDS_S
    chosen = outcome or req.outcome
    op_id = str(uuid.uuid4()) if req.protocol == "vertex" else new_short_id()
    now = state.clock.now()
    op = Operation(
        id=op_id,
        name=name_for(op_id),
        protocol=req.protocol,
        model=req.model,
        credential=credential,
        created_at=now,
        ready_at=now + state.draw_latency(),
        request=_without_payloads(req),
        outcome=chosen,
    )
    op.recipes = _recipes(state, req, chosen, duration, image, last, source)
    op.renders = [state.renders.submit(r) for r in op.recipes]
    op.watch_renders(state.clock.now)
    state.add_operation(op)
    return op


def _recipes(
    state: EmulatorState,
    req: GenerationRequest,
    outcome: Outcome,
    duration_s: float,
    image: bytes | None,
    last: bytes | None,
    source: InputVideo | None = None,
) -> list[Recipe]:
    if outcome.kind == "failed":
        return []  # no video will be delivered, so none is rendered
    # A filter blocks whole samples: render only the ones that will be delivered (all blocked: none).
    delivered = req.sample_count - outcome.blocked(req.sample_count)
    base = req.seed if req.seed is not None else state.config.seed
    recipes: list[Recipe] = []
    for i in range(delivered):
        seed = (base + i) % UINT32  # distinct samples per request, reproducible per seed
        if outcome.kind == "large":
            # Noise at the requested size and length: huge, yet exactly what the request asked for.
            recipes.append(LargeSpec(outcome.min_bytes, req.width, req.height, seed, duration_s, req.audio))
            continue
        spec = RenderSpec(
            prompt=req.prompt,
            width=req.width,
            height=req.height,
            duration_s=duration_s,
            fps=24,
            audio=req.audio,
            seed=seed,
            first_frame=image,
            last_frame=last,
            label=f"{req.model} #{i}",
            # Veo returns the input video with the new seconds after it, not the new seconds alone.
            extends=str(source.path) if source is not None else None,
            extends_sha256=source.sha256 if source is not None else None,
        )
        recipes.append(spec)
    return recipes


def _without_payloads(req: GenerationRequest) -> GenerationRequest:
    """The request as kept with the operation: inline media (up to hundreds of MB of input video) is
    dropped once rendering has what it needs, so a long-running emulator's memory does not grow with it."""

    def light(ref: MediaRef | None) -> MediaRef | None:
        return None if ref is None else MediaRef(uri=ref.uri, mime_type=ref.mime_type)

    return replace(
        req,
        image=light(req.image),
        last_frame=light(req.last_frame),
        video=light(req.video),
        reference_images=tuple(MediaRef(uri=r.uri, mime_type=r.mime_type) for r in req.reference_images),
    )


def _resolve_image(state: EmulatorState, ref: MediaRef | None, field: str) -> bytes | None:
    if ref is None:
        return None
    if ref.data is not None:
        return ref.data
    obj = state.gcs_object_by_uri(ref.uri or "")
    if obj is None:
        raise invalid_argument(f"{field}.gcsUri: {ref.uri} does not exist or is not readable")
    if obj.file.size > MAX_IMAGE_BYTES:
        raise invalid_argument(f"{field}.gcsUri: {ref.uri} is larger than an image may be")
    data = obj.file.path.read_bytes()
    check_image(data, f"{field}.gcsUri")
    return data


async def _resolve_video(state: EmulatorState, req: GenerationRequest) -> InputVideo:
    ref = req.video
    assert ref is not None
    field = "instances[0].video"
    if ref.data is not None:
        path = state.inputs_dir / (hashlib.sha256(ref.data).hexdigest() + ".mp4")
        await asyncio.to_thread(_write_once, path, ref.data)
    elif ref.uri is not None and ref.uri.startswith("gs://"):
        obj = state.gcs_object_by_uri(ref.uri)
        if obj is None:
            raise invalid_argument(f"{field}.gcsUri: {ref.uri} does not exist or is not readable")
        path = obj.file.path
    else:
        f = state.file_by_uri(ref.uri or "")
        if f is None:
            raise invalid_argument(
                f"{field}.uri: the video does not exist or has expired (generated videos are kept for 2 days)"
            )
        state.touch_file(f)
        path = f.file.path
    try:
        info = await asyncio.to_thread(probe_mp4, path)
    except CorruptMediaError:
        raise invalid_argument(f"{field}: the video is not a valid MP4 file") from None
    if info.duration_s > MAX_EXTENSION_INPUT_S:
        raise invalid_argument(
            f"{field}: videos longer than {MAX_EXTENSION_INPUT_S:g} seconds cannot be "
            f"extended (got {info.duration_s:.1f} s)"
        )
    offer = state.catalog.find(req.protocol, req.model)
    allowed = offer.extension_resolutions if offer else None
    if allowed:
        sizes = {state.catalog.dims(r, a) for r in allowed for a in state.catalog.dimensions[r]}
        if (info.width, info.height) not in sizes:
            raise invalid_argument(
                f"{field}: only {', '.join(allowed)} videos can be extended (got {info.width}x{info.height})"
            )
    return InputVideo(info.duration_s, info.width, info.height, path, await asyncio.to_thread(_sha256_of, path))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_once(path: Path, data: bytes) -> None:
    if path.is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


async def accept_submit(
    state: EmulatorState,
    request: Request,
    *,
    protocol: Protocol,
    model: str,
    cred: str,
    unknown: str,
    operation_prefix: str,
) -> Response:
    """A predictLongRunning call, the same for both Google protocols: validate, fault, quota, accept.

    Fault stages in order: ``pre`` (reset before the body is read: nothing happens), the route's own
    faults once the request is valid (a scripted outcome is never spent on a 400; an injected error
    preempts quota accounting, as a front-end failure would), then ``after`` (accepted and billed, but
    the answer is lost).
    """
    offer = find_offer(state, protocol, model, unknown)
    if (answer := (await fire_fault(state, "submit", model, "pre", request=request))[1]) is not None:
        return answer
    req = parse_generation(await read_json(request), protocol, offer, state.catalog)
    fault, answer = await fire_fault(state, "submit", model, "outcome")
    if answer is not None:
        return answer
    check_quota(state, cred)
    op = await create_operation(
        state,
        req,
        credential=cred,
        name_for=lambda i: f"{operation_prefix}/operations/{i}",
        outcome=fault.outcome() if fault else None,
    )
    state.stats_counters.submit(cred, model, request.headers.get("x-goog-user-project"))
    if (answer := (await fire_fault(state, "submit", model, "after", request=request))[1]) is not None:
        return answer
    return JSONResponse({"name": op.name})
