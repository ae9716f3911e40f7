"""To and from the Interactions API's wire format for Gemini Omni video, shared by the Gemini API and Vertex.

The request is the one google-genai 3.4.0 sends for ``client.interactions.create(...)`` (observed against a
local server; see the catalog's Omni notes for every source)::

    {"model": "gemini-omni-1.2-flash", "background": true,
     "input": [{"type": "user_input", "content": [{"type": "text", "text": "..."},
                                                  {"type": "image", "data": "<b64>", "mime_type": "image/png"}]}],
     "response_format": {"type": "video", "aspect_ratio": "16:9", "resolution": "720p", "duration": "8s",
                         "delivery": "inline" | "uri", "gcs_uri": "gs://..." (Vertex, uri delivery)},
     "generation_config": {"seed": 7, "video_config": {"task": "text_to_video"}},
     "previous_interaction_id": "..."}   # extension of an earlier interaction

Which images mean what is not documented by Google: we follow the task (``image_to_video``: the first image
is the first frame, a second one the last frame; ``reference_to_video``: every image is a reference), as
third-party integrations do, and never mix the modes in one request (the catalog's ``mixed_inputs``).

The answer is an Interaction: ``status`` (queued, in_progress, completed, failed, cancelled, incomplete,
budget_exceeded, ...), ``steps`` whose ``model_output`` holds ``{"type": "video", "data" | "uri", "mime_type"}``,
``usage`` in tokens, and errors either as the top-level ``errors`` list (string codes such as ``safety`` or
``api_error``) or as a ``model_output`` step's ``error`` (a google.rpc.Status). A safety refusal has also been
reported as ``completed`` with only text and no video tokens; that is read as filtered too.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from veokit import errors as E
from veokit.models.catalog import TokenPrice
from veokit.models.job import Usage
from veokit.models.request import GenerateRequest, ImageInput
from veokit.providers.base import OperationStatus, OpState, RemoteVideo
from veokit.providers.google_errors import RPC_CODES, error_from_response, parse_retry_delay
from veokit.providers.inline_json import SpooledBlob, resolve_placeholder

# Media arrive as the string value of "data" in content blocks (videos out; images and videos echoed in).
INLINE_KEYS = (b'"data"',)
RUNNING = frozenset({"queued", "in_progress", "requires_continuation"})
# [IERR] "generation blocked" codes: the policy, not the request or the service, stopped the video.
BLOCKED = frozenset(
    {
        "safety",
        "recitation",
        "language",
        "prohibited_content",
        "spii",
        "blocklist",
        "image_safety",
        "image_prohibited_content",
        "image_recitation",
        "image_other",
        "content_blocked",
    }
)
RETRYABLE_FAILURES = frozenset({"api_error", "service_unavailable", "deadline_exceeded", "aborted", "internal"})


def _image(img: ImageInput) -> dict[str, str]:
    return {"type": "image", "data": img.b64, "mime_type": img.mime_type}


def to_body(
    request: GenerateRequest,
    *,
    delivery: str,
    reference_scheme: str | None,
    gcs_uri: str | None = None,
) -> dict[str, Any]:
    """The create-interaction body. ``reference_scheme`` (``omni-interaction:``) marks a video URI that names
    an earlier interaction of this provider: it is extended by reference, with ``previous_interaction_id``."""
    assert request.model is not None
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    body: dict[str, Any] = {"model": request.model, "background": True}
    if request.video is not None:
        task = "extend"
        v = request.video
        if v.uri and reference_scheme and v.uri.startswith(reference_scheme):
            body["previous_interaction_id"] = interaction_id(v.uri[len(reference_scheme) :].lstrip("/"))
        elif v.uri:
            content.append({"type": "video", "uri": v.uri, "mime_type": v.mime_type})
        elif v.data is not None:
            content.append({"type": "video", "data": base64.b64encode(v.data).decode(), "mime_type": v.mime_type})
    elif request.reference_images:
        task = "reference_to_video"
        content.extend(_image(r) for r in request.reference_images)
    elif request.image is not None:
        task = "image_to_video"
        content.append(_image(request.image))
        if request.last_frame is not None:
            content.append(_image(request.last_frame))
    else:
        task = "text_to_video"
    body["input"] = [{"type": "user_input", "content": content}]
    fmt: dict[str, Any] = {
        "type": "video",
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "duration": f"{request.duration_seconds}s",  # a protobuf Duration: a bare number is refused
        "delivery": delivery,
    }
    if gcs_uri:
        fmt["gcs_uri"] = gcs_uri
    body["response_format"] = fmt
    config: dict[str, Any] = {"video_config": {"task": task}}
    if request.seed is not None:
        config["seed"] = request.seed
    body["generation_config"] = config
    return body


def interaction_id(name: str) -> str:
    """``projects/p/locations/l/interactions/ID``, ``interactions/ID`` or ``ID`` → ``ID``."""
    return name.rstrip("/").rpartition("/")[2]


# -- answers ---------------------------------------------------------------------------------------------
def parse_usage(doc: Any) -> Usage | None:
    if not isinstance(doc, dict):
        return None
    by_modality = doc.get("output_tokens_by_modality")
    total_out = _int(doc.get("total_output_tokens"))
    if isinstance(by_modality, list):
        video = sum(
            _int(m.get("tokens"))
            for m in by_modality
            if isinstance(m, dict) and str(m.get("modality", "")).lower() == "video"
        )
    else:
        video = total_out  # no breakdown: price every output token as video, the dearer kind
    other = max(0, total_out - video) + _int(doc.get("total_thought_tokens"))
    return Usage(input_tokens=_int(doc.get("total_input_tokens")), video_output_tokens=video, other_output_tokens=other)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _outputs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steps = doc.get("steps")
    if not isinstance(steps, list):
        # Interactions from before steps existed listed model content under "outputs".
        outputs = doc.get("outputs")
        steps = [{"type": "model_output", "content": outputs}] if isinstance(outputs, list) else []
    return [s for s in steps if isinstance(s, dict) and s.get("type") == "model_output"]


def parse_interaction(
    doc: Any, blobs: list[SpooledBlob], provider: str, token_price: TokenPrice | None
) -> OperationStatus:
    """An Interaction → the engine's view. Spooled media that are not the result (echoed inputs) are deleted."""
    if not isinstance(doc, dict):
        _discard(blobs, keep=())
        raise E.UnexpectedResponse(f"{provider}: the interaction is not a JSON object", provider=provider)
    name = str(doc.get("id") or "")
    status = str(doc.get("status") or "")
    usage = parse_usage(doc.get("usage"))
    outputs = _outputs(doc)
    videos = _videos(outputs, blobs)
    _discard(blobs, keep=[v.inline_path for v in videos if v.inline_path is not None])
    if status in RUNNING:
        return OperationStatus(OpState.RUNNING, name)
    if status == "completed" and videos:
        cost = token_price.cost(usage) if token_price is not None and usage is not None else None
        return OperationStatus(OpState.SUCCEEDED, name, videos=videos, usage=usage, cost_usd=cost)
    errors = _errors(doc, outputs)
    if status == "failed" or errors:
        code, message = errors[0] if errors else ("api_error", "the interaction failed without an error")
        if code in BLOCKED:
            return _filtered(name, provider, code, [m for c, m in errors if c in BLOCKED])
        return _failed(name, provider, code, message)
    if status == "completed":  # without a video, and without an error
        if usage is not None and usage.video_output_tokens:
            return _failed(name, provider, "api_error", "the interaction reports video tokens but holds no video")
        text = " ".join(_texts(outputs)) or "the interaction completed without a video"
        return _filtered(name, provider, "content_blocked", [text])
    if status in ("cancelled", "incomplete", "budget_exceeded", "requires_action"):
        return _failed(name, provider, status, f"the interaction ended {status.replace('_', ' ')}")
    # A status this version does not know and that does not read as an end: keep polling; the job's
    # deadline bounds a status that never ends.
    return OperationStatus(OpState.RUNNING, name)


def _videos(outputs: list[dict[str, Any]], blobs: list[SpooledBlob]) -> list[RemoteVideo]:
    found: list[RemoteVideo] = []
    for step in outputs:
        for block in step.get("content") or []:
            if not isinstance(block, dict) or block.get("type") != "video":
                continue
            mime = str(block.get("mime_type") or "video/mp4")
            blob = resolve_placeholder(block.get("data"), blobs)
            if blob is not None:
                found.append(
                    RemoteVideo(
                        index=len(found),
                        inline_path=blob.path,
                        inline_sha256=blob.sha256,
                        inline_size=blob.size,
                        mime_type=mime,
                    )
                )
            elif isinstance(block.get("uri"), str) and block["uri"]:
                found.append(RemoteVideo(index=len(found), uri=block["uri"], mime_type=mime))
    return found


def _texts(outputs: list[dict[str, Any]]) -> list[str]:
    return [
        str(b["text"])[:300]
        for step in outputs
        for b in step.get("content") or []
        if isinstance(b, dict) and b.get("type") == "text" and b.get("text")
    ]


def _errors(doc: dict[str, Any], outputs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(code, message) from the top-level ``errors`` (string codes) and the steps' google.rpc ``error``."""
    found: list[tuple[str, str]] = []
    for err in doc.get("errors") or []:
        if isinstance(err, dict):
            found.append((str(err.get("code") or "api_error").lower(), str(err.get("message") or "")))
    single = doc.get("error")
    for err in [single, *(s.get("error") for s in outputs)]:
        if isinstance(err, dict):
            code = err.get("code")
            if isinstance(code, int):
                code = RPC_CODES.get(code, "UNKNOWN")
            found.append((str(code or "api_error").lower(), str(err.get("message") or "")))
    return found


def _filtered(name: str, provider: str, code: str, reasons: list[str]) -> OperationStatus:
    why = "; ".join(r for r in reasons if r) or code
    return OperationStatus(
        OpState.FILTERED,
        name,
        error=E.ContentFiltered(
            f"{provider}: the video was blocked by the safety filter: {why}",
            provider=provider,
            reasons=[r for r in reasons if r] or [code],
            status=code,
        ),
    )


def _failed(name: str, provider: str, code: str, message: str) -> OperationStatus:
    return OperationStatus(
        OpState.FAILED,
        name,
        error=E.GenerationFailed(
            f"{provider}: generation failed ({code}): {message or 'no message'}",
            provider=provider,
            status=code,
            retryable=code in RETRYABLE_FAILURES,
        ),
    )


def _discard(blobs: list[SpooledBlob], keep: Any) -> None:
    kept = set(keep)
    for blob in blobs:
        if blob.path not in kept:
            blob.path.unlink(missing_ok=True)


# -- errors ----------------------------------------------------------------------------------------------
def error_from_interactions(
    provider: str,
    status_code: int,
    text: str,
    headers: httpx.Headers | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> E.VeokitError:
    """[IERR] bodies carry a string ``code`` (``{"error": {"code": "invalid_request", "message": ...}}``);
    Google's front end still answers some failures (a bad API key) in google.rpc shape, mapped as usual."""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, list) and body:  # the front end sometimes wraps the error in a list
        body = body[0]
    err = body.get("error") if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    if not isinstance(code, str) or not code:
        return error_from_response(provider, status_code, json.dumps(body) if body else text, headers, secrets=secrets)
    assert isinstance(err, dict) and isinstance(body, dict)
    code = code.lower()
    message = E.redact(str(err.get("message") or f"HTTP {status_code}"), *secrets)
    kw: dict[str, Any] = {"provider": provider, "status_code": status_code, "status": code}
    if code in BLOCKED:
        return E.ContentFiltered(
            f"{provider}: the request was blocked by the safety filter: {message}", reasons=[message], **kw
        )
    if code == "authentication":
        return E.AuthenticationError(f"{provider}: credentials rejected: {message}", **kw)
    if code == "permission_denied":
        return E.PermissionDenied(f"{provider}: permission denied: {message}", **kw)
    if code == "model_not_found":
        return E.ModelNotFound(f"{provider}: {message}", field="model", **kw)
    if code == "not_found":
        return E.InvalidRequest(f"{provider}: not found: {message}", field="operation", **kw)
    if code in ("rate_limit_exceeded", "too_many_requests"):
        delay = parse_retry_delay(body, headers)
        return E.RateLimited(f"{provider}: rate limited: {message}", retry_after_s=delay, **kw)
    if code == "quota_exceeded":
        return E.QuotaExhausted(f"{provider}: daily quota exhausted: {message}", **kw)
    if code == "payment_required" or (code == "failed_precondition" and "billing" in message.lower()):
        return E.BillingError(f"{provider}: billing: {message}", **kw)
    if code in ("api_error", "internal", "service_unavailable", "deadline_exceeded", "aborted", "cancelled"):
        return E.ServerError(f"{provider}: server error {status_code} ({code}): {message}", **kw)
    if status_code >= 500 and status_code != 501:  # a code this version does not know
        return E.ServerError(f"{provider}: server error {status_code} ({code}): {message}", **kw)
    # invalid_request, parameter_unknown, out_of_range, failed_precondition, unimplemented (501: a retry
    # would meet the same answer), and anything else the service refuses.
    return E.InvalidRequest(f"{provider} rejected the request ({code}): {message}", **kw)
