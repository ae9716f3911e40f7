"""An optional receiver for Kie's task callbacks (``callBackUrl``): a small Starlette app.

Kie POSTs ``{"code": 200, "msg": ..., "data": {"taskId": ..., "info": {"resultUrls": [...]}, ...}}`` when a
task ends (codes: 200 ok, 400 content policy / image fetch, 422 rejected, 500/501 failed). The receiver checks,
in order, and answers without doing any work itself:

1. the signature, when a ``webhookHmacKey`` is configured. Kie's published scheme (docs.kie.ai/common-api/
   webhook-verification): ``X-Webhook-Signature = base64(HMAC-SHA256(taskId + "." + X-Webhook-Timestamp,
   webhookHmacKey))``. We also refuse timestamps further than ``max_skew_s`` from now, against replays. Note
   what it does *not* cover: the body beyond ``taskId``. A valid signature proves Kie sent a callback for that
   task, not what the rest of the payload says;
2. the payload's shape (``data.taskId``, or ``task_id`` as one of Kie's own examples spells it);
3. that the task is one of ours (``is_known_task``), so strangers cannot make us poll arbitrary ids.

``on_callback`` then gets a :class:`KieCallback`. Treat it as a nudge to poll record-info, which Kie calls
the authoritative source, rather than as the result: the engine's poll stays the one path to a video.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.providers.kie_wire import code_of, result_urls

MAX_BODY_BYTES = 1 << 20
MAX_TIMESTAMP_DIGITS = 12  # seconds since 1970 have 10 digits until the year 2286


class PayloadTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (:class:`PayloadTooLarge`) as soon as it is known to exceed ``limit``: from its
    declared length before reading anything, else while streaming, so a huge body never sits in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and len(declared) <= 20 and int(declared) > limit:
        raise PayloadTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class KieCallback:
    task_id: str
    code: int
    message: str
    result_urls: list[str]


def signature(task_id: str, timestamp: str, key: str) -> str:
    mac = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def verify_signature(
    task_id: str,
    timestamp: str | None,
    received: str | None,
    key: str,
    *,
    now: float | None = None,
    max_skew_s: float = 300.0,
) -> bool:
    stamp = (timestamp or "").strip()
    # ASCII digits only, and few of them: int() of a 5,000-digit string raises (and costs time) instead of
    # simply being a bad timestamp.
    if not received or not stamp.isascii() or not stamp.isdigit() or len(stamp) > MAX_TIMESTAMP_DIGITS:
        return False
    if abs((now if now is not None else time.time()) - int(stamp)) > max_skew_s:
        return False
    return hmac.compare_digest(signature(task_id, stamp, key).encode(), received.strip().encode("utf-8", "replace"))


def parse_callback(payload: Any) -> KieCallback:
    """The callback's facts; ``ValueError`` (naming what is wrong) for anything else."""
    if not isinstance(payload, dict):
        raise ValueError("payload is not a JSON object")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ValueError("payload has no data object")
    task_id = data.get("taskId") or data.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ValueError("payload has no data.taskId")
    code = code_of(payload)
    if code is None:
        raise ValueError("payload has no numeric code")
    return KieCallback(task_id, code, str(payload.get("msg") or ""), result_urls(data))


OnCallback = Callable[[KieCallback], Awaitable[None] | None]


def callback_app(
    *,
    is_known_task: Callable[[str], bool],
    on_callback: OnCallback,
    hmac_key: str | None = None,
    path: str = "/kie/callback",
    max_skew_s: float = 300.0,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    async def receive(request: Request) -> Response:
        try:
            raw = await read_limited(request, max_body_bytes)
        except PayloadTooLarge:
            return JSONResponse({"ok": False, "error": "payload too large"}, status_code=413)
        try:
            event = parse_callback(json.loads(raw or b"null"))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            return JSONResponse({"ok": False, "error": f"bad payload: {exc}"}, status_code=400)
        except RecursionError:  # e.g. 100,000 nested [: malformed input, not our failure
            return JSONResponse({"ok": False, "error": "bad payload: nested too deeply"}, status_code=400)
        if hmac_key is not None and not verify_signature(
            event.task_id,
            request.headers.get("x-webhook-timestamp"),
            request.headers.get("x-webhook-signature"),
            hmac_key,
            max_skew_s=max_skew_s,
        ):
            return JSONResponse({"ok": False, "error": "bad or missing signature"}, status_code=401)
        if not is_known_task(event.task_id):
            return JSONResponse({"ok": False, "error": "unknown task"}, status_code=404)
        result = on_callback(event)
        if inspect.isawaitable(result):
            await result
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route(path, receive, methods=["POST"])])
