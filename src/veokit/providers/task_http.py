"""What the task-based protocols (Kie, fal, Replicate) share: JSON error bodies mapped to veokit's error tree,
content-policy detection, images as data URIs, and results behind temporary public URLs.

Their error bodies differ in shape but not in meaning, so one mapper reads all of them:
  fal        {"detail": "..."} or {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}
  Replicate  {"title": "...", "detail": "...", "status": 422, "invalid_fields": [...]}  (RFC 7807)
  Kie        {"code": 402, "msg": "...", "data": null}  (often on HTTP 200: see ``kie_wire``)
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from veokit import errors as E
from veokit.models.request import ImageInput
from veokit.providers.base import DownloadTarget, RemoteVideo
from veokit.providers.google_errors import parse_retry_delay

# How the providers word a safety block: fal's error type, Replicate's E005, Kie's "content policies".
# Narrow on purpose: a validation error ("safety_tolerance must be…") must not read as a safety block.
_POLICY = re.compile(
    r"content[ _-]?polic|violat\w*\s+(?:\w+\s+){0,2}polic|flagged|\(E005\)|as sensitive"
    r"|sensitive content|content checker|safety (?:filter|system|check)",
    re.IGNORECASE,
)


def is_content_policy(*texts: str | None) -> bool:
    return any(t and _POLICY.search(t) for t in texts)


def data_uri(image: ImageInput) -> str:
    """fal and Replicate take file inputs inline as data URIs, so a local image needs no upload step."""
    return f"data:{image.mime_type};base64,{image.b64}"


def parse_body(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def body_message(doc: dict[str, Any], fallback: str) -> tuple[str, str | None]:
    """(human message, machine error type) from any of the three body shapes."""
    detail = doc.get("detail")
    kind = doc.get("error_type") or doc.get("type")
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc") or [] if p != "body")
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
                kind = kind or item.get("type")
            else:
                parts.append(str(item))
        return "; ".join(parts), str(kind) if kind else None
    for key in ("detail", "msg", "message", "error", "title"):
        value = doc.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            return value.strip(), str(kind) if kind else None
    return fallback, str(kind) if kind else None


def error_for(
    provider: str,
    status_code: int,
    message: str,
    *,
    headers: httpx.Headers | None = None,
    kind: str | None = None,
    secrets: tuple[str | None, ...] = (),
) -> E.VeokitError:
    """One HTTP-style status (an HTTP status, or Kie's body ``code``) to the veokit error it means."""
    message = E.redact(message[:400], *secrets)
    kw: dict[str, Any] = {"provider": provider, "status_code": status_code, "reason": kind}
    if status_code in (400, 422) and is_content_policy(message, kind):
        return E.ContentFiltered(f"{provider}: blocked by the content policy: {message}", reasons=[message], **kw)
    if status_code == 401:
        return E.AuthenticationError(f"{provider}: credentials rejected: {message}", **kw)
    if status_code == 402:
        return E.BillingError(f"{provider}: not enough credit: {message}", **kw)
    if status_code == 403:
        return E.PermissionDenied(f"{provider}: permission denied: {message}", **kw)
    if status_code == 404:
        return E.InvalidRequest(f"{provider}: not found: {message}", **kw)
    if status_code == 429:
        return E.RateLimited(
            f"{provider}: rate limited: {message}", retry_after_s=parse_retry_delay(None, headers), **kw
        )
    if status_code in (400, 409, 413, 415, 422):
        return E.InvalidRequest(f"{provider} rejected the request: {message}", **kw)
    if status_code in (408, 504):
        return E.ServerError(f"{provider}: timed out: {message}", **kw)
    if status_code >= 500:
        return E.ServerError(f"{provider}: server error {status_code}: {message}", **kw)
    return E.UnexpectedResponse(f"{provider}: unexpected HTTP {status_code}: {message}", **kw)


def json_error_from_response(
    provider: str,
    status_code: int,
    text: str,
    headers: httpx.Headers | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> E.VeokitError:
    """An ``ErrorMapper`` for ``call_json``: fal, Replicate and Kie error bodies."""
    doc = parse_body(text)
    message, kind = body_message(doc, text[:300] or f"HTTP {status_code}")
    return error_for(provider, status_code, message, headers=headers, kind=kind, secrets=secrets)


def public_download(provider: str, video: RemoteVideo) -> DownloadTarget:
    """Results on temporary public hosts (tempfile.aiquickdraw.com, fal.media, replicate.delivery) need no
    credentials, so none are sent: a key must never reach a third-party file host."""
    if not video.uri or not video.uri.startswith(("https://", "http://")):
        raise E.InvalidRequest(f"{provider}: cannot download {video.uri!r}", field="uri", provider=provider)
    return DownloadTarget(video.uri, {})
