"""What the reseller emulators share: credential checks, input media by URL, and the temporary-URL routes.

- Credentials: each reseller has its own accepted secrets (``EmulatorConfig.kie_api_keys`` etc.); stats see
  only ``<provider>-key:<sha256[:10]>``, never the secret.
- Inputs arrive as URLs. The emulator cannot reach the internet, so it resolves what it can serve itself:
  ``data:`` URIs, files uploaded through Kie's upload API (``/_emulator/uploads/...``) and earlier results
  (``/_emulator/tmp/...``). Anything else is an input "that could not be fetched", as the real service says.
- ``GET|HEAD /_emulator/tmp/{token}.mp4``: a result, no auth, Range supported; 404 once expired.
- ``GET|HEAD /_emulator/uploads/{token}/{name}``: an uploaded input.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.credentials import digest
from veokit.emulator.errors import RpcError
from veokit.emulator.media_inputs import check_image
from veokit.emulator.routing import emulator_state, fire_fault
from veokit.emulator.state import EmulatorState
from veokit.emulator.streaming import file_response
from veokit.media.probe import CorruptMediaError, probe_mp4

_UPLOAD = re.compile(r"/_emulator/uploads/([A-Za-z0-9_-]+)(?:/|$)")
_TMP = re.compile(r"/_emulator/tmp/([A-Za-z0-9_-]+?)(?:\.mp4)?$")
_DATA_URI = re.compile(r"data:([\w/+.-]+)?(?:;[\w=.-]+)*;base64,(.*)", re.DOTALL)
MAX_INPUT_BYTES = 60 * 2**20


# -- credentials ----------------------------------------------------------------------------------------------
def credential_id(provider: str, secret: str) -> str:
    return f"{provider}-key:{digest(secret)[:10]}"


def header_secret(request: Request, *schemes: str) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() in schemes else None


def check_secret(state: EmulatorState, provider: str, secret: str | None) -> str | None:
    """The caller's credential id, or None for a missing or unknown secret."""
    cfg = state.config
    accepted = {"kie": cfg.kie_api_keys, "fal": cfg.fal_keys, "replicate": cfg.replicate_tokens}[provider]
    if secret and any(hmac.compare_digest(secret.encode(), k.encode()) for k in accepted):
        return credential_id(provider, secret)
    return None


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def tmp_url(request: Request, token: str) -> str:
    return f"{base_url(request)}/_emulator/tmp/{token}.mp4"


# -- input media ----------------------------------------------------------------------------------------------
def decode_data_uri(value: str) -> bytes | None:
    m = _DATA_URI.fullmatch(value.strip())
    if m is None:
        return None
    try:
        return base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        return None


def fetch_input(state: EmulatorState, url: object, *, data_uris: bool = True) -> bytes | None:
    """The bytes behind an input URL the emulator can serve, else None ("could not be fetched"). Kie fetches
    images by URL only (``data_uris=False``); fal and Replicate also take them inline."""
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("data:"):
        return decode_data_uri(url) if data_uris else None
    path = urlsplit(url).path
    if m := _UPLOAD.search(path):
        found = state.tasks.uploaded(m.group(1))
        return found[0].read_bytes() if found else None
    if m := _TMP.search(path):
        grant, _ = state.tasks.redeem(m.group(1))
        return grant.file.path.read_bytes() if grant and grant.file.size <= MAX_INPUT_BYTES else None
    return None


def image_problem(data: bytes) -> str | None:
    """Why these bytes are not a usable image, or None."""
    try:
        check_image(data, "image")
    except RpcError as exc:
        return exc.message
    return None


async def probe_input_video(state: EmulatorState, data: bytes) -> tuple[float, int, int] | None:
    """(duration, width, height) of an input video, or None if it is not a valid MP4."""
    path = state.inputs_dir / (hashlib.sha256(data).hexdigest() + ".mp4")
    if not path.is_file():
        await asyncio.to_thread(_write_atomically, path, data)
    try:
        info = await asyncio.to_thread(probe_mp4, path)
    except CorruptMediaError:
        return None
    return info.duration_s, info.width, info.height


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# -- routes ---------------------------------------------------------------------------------------------------
async def tmp_file(request: Request) -> Response:
    state = emulator_state(request)
    token = request.path_params["token"].removesuffix(".mp4")
    grant, expired = state.tasks.redeem(token)
    if grant is None:
        # Temporary hosts answer a plain 404 once a file is gone, expired or never existed.
        return JSONResponse({"error": "expired" if expired else "not found"}, status_code=404)
    if request.method == "HEAD":
        return file_response(request, grant.file.path, grant.file.size, "video/mp4")
    state.stats_counters.download()
    if (answer := (await fire_fault(state, "download", grant.model, "pre", request=request))[1]) is not None:
        return answer
    fault, answer = await fire_fault(state, "download", grant.model, "body")
    if answer is not None:
        return answer
    return file_response(request, grant.file.path, grant.file.size, "video/mp4", fault=fault)


async def uploaded_file(request: Request) -> Response:
    found = emulator_state(request).tasks.uploaded(request.path_params["token"])
    if found is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    path, mime = found
    return file_response(request, path, path.stat().st_size, mime)


routes = [
    Route("/_emulator/tmp/{token}", tmp_file, methods=["GET", "HEAD"]),
    Route("/_emulator/uploads/{token}/{name}", uploaded_file, methods=["GET", "HEAD"]),
]
