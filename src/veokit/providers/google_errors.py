"""google.rpc error bodies (Vertex and Gemini API) mapped to veokit's error tree, once, at the boundary."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from veokit import errors as E

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_retry_delay(body: dict[str, Any] | None, headers: httpx.Headers | None) -> float | None:
    """The server's hint: google.rpc.RetryInfo.retryDelay ("58s") first, then a Retry-After header."""
    for detail in (body or {}).get("error", {}).get("details", []) or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and (m := _DURATION.match(delay)):
                return float(m.group(1))
            if isinstance(delay, dict):
                return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    value = headers.get("retry-after") if headers is not None else None
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            import datetime as dt
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(value)
                return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
            except (TypeError, ValueError):
                return None
    return None


def _reason(body: dict[str, Any]) -> str | None:
    for detail in body.get("error", {}).get("details", []) or []:
        if isinstance(detail, dict) and "reason" in detail:
            return str(detail["reason"])
        if isinstance(detail, dict) and "violations" in detail:
            v = detail["violations"]
            if v and isinstance(v[0], dict) and v[0].get("quotaId"):
                return str(v[0]["quotaId"])
    return None


def error_from_response(
    provider: str,
    status_code: int,
    text: str,
    headers: httpx.Headers | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> E.VeokitError:
    try:
        body = json.loads(text) if text else {}
        if not isinstance(body, dict):
            body = {}
    except ValueError:
        body = {}
    err = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
    status = err.get("status")
    message = E.redact(str(err.get("message") or text[:300] or f"HTTP {status_code}"), *secrets)
    reason = _reason(body)
    kw: dict[str, Any] = {"provider": provider, "status_code": status_code, "status": status, "reason": reason}
    text_l = message.lower()
    if status_code == 401 or status == "UNAUTHENTICATED" or reason == "API_KEY_INVALID":
        return E.AuthenticationError(f"{provider}: credentials rejected: {message}", **kw)
    if status_code == 403 or status == "PERMISSION_DENIED":
        return E.PermissionDenied(f"{provider}: permission denied: {message}", **kw)
    if status_code == 404 or status == "NOT_FOUND":
        if "no longer available" in text_l:
            return E.ModelRetired(f"{provider}: {message}", field="model", **kw)
        return E.ModelNotFound(f"{provider}: {message}", field="model", **kw)
    if status_code == 429 or status == "RESOURCE_EXHAUSTED":
        delay = parse_retry_delay(body, headers)
        if reason and "PerDay" in reason:
            return E.QuotaExhausted(f"{provider}: daily quota exhausted: {message}", **kw)
        return E.RateLimited(f"{provider}: rate limited: {message}", retry_after_s=delay, **kw)
    if status_code == 402 or (status == "FAILED_PRECONDITION" and "billing" in text_l):
        return E.BillingError(f"{provider}: billing: {message}", **kw)
    if status_code == 400 or status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"):
        return E.InvalidRequest(f"{provider} rejected the request: {message}", **kw)
    if status_code in (408, 504) or status == "DEADLINE_EXCEEDED":
        return E.ServerError(f"{provider}: deadline exceeded: {message}", **kw)
    if status_code >= 500:
        return E.ServerError(f"{provider}: server error {status_code}: {message}", **kw)
    return E.UnexpectedResponse(f"{provider}: unexpected HTTP {status_code}: {message}", **kw)


RPC_CODES = {
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    16: "UNAUTHENTICATED",
}


def operation_error(provider: str, err: dict[str, Any]) -> E.GenerationFailed:
    """A done operation's ``error`` (google.rpc.Status with a numeric code)."""
    code = err.get("code")
    status = err.get("status") or (RPC_CODES.get(code) if isinstance(code, int) else None)
    retryable = status in ("INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "UNKNOWN")
    return E.GenerationFailed(
        f"{provider}: generation failed ({status or code}): {err.get('message', 'no message')}",
        provider=provider,
        status=status,
        reason=str(code) if code is not None else None,
        retryable=retryable,
    )
