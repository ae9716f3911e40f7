"""To and from Google's predictLongRunning wire format, shared by the Vertex and Gemini API providers.

The two protocols differ in a handful of places, all decided here by ``protocol``:
- Gemini takes no ``storageUri`` and no video bytes (extension needs the URI of a video it generated);
- Gemini nests results in ``response.generateVideoResponse.generatedSamples[].video``,
  Vertex lists them in ``response.videos[]``;
- both report RAI filtering as ``raiMediaFilteredCount`` / ``raiMediaFilteredReasons`` next to the results;
  with ``sampleCount`` > 1 a block can be partial (some videos and a count), which is a success with a note.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from veokit.errors import ContentFiltered
from veokit.models.request import GenerateRequest, ImageInput
from veokit.providers.base import OperationStatus, OpState, RemoteVideo
from veokit.providers.google_errors import operation_error
from veokit.providers.inline_json import SpooledBlob, resolve_placeholder

Protocol = Literal["vertex", "gemini"]


def _image(img: ImageInput) -> dict[str, str]:
    return {"bytesBase64Encoded": img.b64, "mimeType": img.mime_type}


def to_body(
    request: GenerateRequest, protocol: Protocol, *, audio_optional: bool, extra_params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The predictLongRunning body; ``extra_params`` are the provider's options, already on their wire names."""
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.image is not None:
        instance["image"] = _image(request.image)
    if request.last_frame is not None:
        instance["lastFrame"] = _image(request.last_frame)
    if request.reference_images:
        instance["referenceImages"] = [{"image": _image(r), "referenceType": "asset"} for r in request.reference_images]
    if request.video is not None:
        v = request.video
        if v.uri and v.uri.startswith("gs://"):
            instance["video"] = {"gcsUri": v.uri, "mimeType": v.mime_type}
        elif v.uri:
            instance["video"] = {"uri": v.uri}
        elif v.data is not None:
            instance["video"] = {"bytesBase64Encoded": base64.b64encode(v.data).decode(), "mimeType": v.mime_type}

    params: dict[str, Any] = {
        "sampleCount": request.sample_count,
        "durationSeconds": request.duration_seconds,
        "aspectRatio": request.aspect_ratio,
        "resolution": request.resolution,
    }
    if request.negative_prompt:
        params["negativePrompt"] = request.negative_prompt
    if request.seed is not None:
        params["seed"] = request.seed
    if request.person_generation is not None:
        params["personGeneration"] = request.person_generation
    if request.enhance_prompt is not None:
        params["enhancePrompt"] = request.enhance_prompt
    if audio_optional:
        # Sent explicitly: Vertex's default differs between model versions, and the price depends on it.
        params["generateAudio"] = request.generate_audio is not False
    if protocol == "vertex" and request.storage_uri:
        params["storageUri"] = request.storage_uri
    params.update(extra_params or {})
    return {"instances": [instance], "parameters": params}


def _filtered_reasons(resp: dict[str, Any]) -> tuple[int, list[str]]:
    count = resp.get("raiMediaFilteredCount") or 0
    reasons = [str(r) for r in resp.get("raiMediaFilteredReasons") or []]
    return int(count), reasons


def _video(index: int, raw: dict[str, Any], blobs: list[SpooledBlob]) -> RemoteVideo | None:
    mime = str(raw.get("mimeType") or raw.get("encoding") or "video/mp4")
    for key in ("bytesBase64Encoded", "encodedVideo"):
        if key in raw:
            blob = resolve_placeholder(raw[key], blobs)
            if blob is not None:
                return RemoteVideo(
                    index=index, inline_path=blob.path, inline_sha256=blob.sha256, inline_size=blob.size, mime_type=mime
                )
    uri = raw.get("gcsUri") or raw.get("uri")
    return RemoteVideo(index=index, uri=str(uri), mime_type=mime) if uri else None


def parse_operation(
    doc: dict[str, Any], protocol: Protocol, blobs: list[SpooledBlob], provider: str
) -> OperationStatus:
    name = str(doc.get("name", ""))
    meta = doc.get("metadata") or {}
    progress = meta.get("progressPercent") if isinstance(meta, dict) else None
    if not doc.get("done"):
        return OperationStatus(
            OpState.RUNNING, name, progress=float(progress) / 100 if isinstance(progress, int | float) else None
        )
    if isinstance(doc.get("error"), dict):
        return OperationStatus(OpState.FAILED, name, error=operation_error(provider, doc["error"]))
    resp = doc.get("response") or {}
    if protocol == "gemini":
        inner = resp.get("generateVideoResponse") or resp
        raws = [s.get("video") or {} for s in inner.get("generatedSamples") or []]
    else:
        inner = resp
        raws = list(resp.get("videos") or [])
    count, reasons = _filtered_reasons(inner)
    videos = [v for i, raw in enumerate(raws) if (v := _video(i, raw, blobs)) is not None]
    if not videos:
        if count or reasons:
            why = "; ".join(reasons) or f"{count} video(s) filtered"
            return OperationStatus(
                OpState.FILTERED,
                name,
                error=ContentFiltered(
                    f"{provider}: the video was blocked by the safety filter: {why}",
                    provider=provider,
                    reasons=reasons,
                    status="RAI_FILTERED",
                ),
            )
        return OperationStatus(
            OpState.FAILED,
            name,
            error=operation_error(provider, {"code": 2, "message": "operation finished with no videos and no error"}),
        )
    # Some samples may have been blocked while others passed: deliver those, and say how many were not.
    return OperationStatus(
        OpState.SUCCEEDED, name, videos=videos, filtered_count=count, filtered_reasons=tuple(reasons)
    )
