"""OAuth 2.0 token endpoint, so google-auth credentials whose ``token_uri`` is the emulator really refresh.

Service accounts post a signed JWT (``jwt-bearer`` grant); the signature is not verified (the emulator
has no key registry), but the payload must be a JWT with an ``iss``, which becomes the identity that
stats report. Authorized users post a refresh token. Tokens expire by the emulator clock.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from veokit.emulator.credentials import digest
from veokit.emulator.routing import emulator_state
from veokit.emulator.state import EmulatorState

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _oauth_error(error: str, description: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=400, headers={"cache-control": "no-store"}
    )


async def token(request: Request) -> Response:
    form = await _form(request)
    grant = form.get("grant_type", "")
    if grant == JWT_BEARER:
        identity = _jwt_issuer(form.get("assertion", ""))
        if identity is None:
            return _oauth_error("invalid_grant", "Invalid JWT: the assertion must be a JWT whose payload has iss.")
        return issue(emulator_state(request), "sa:" + identity)
    if grant == "refresh_token":
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not form.get(k)]
        if missing:
            return _oauth_error("invalid_request", f"Missing required parameter: {missing[0]}")
        return issue(emulator_state(request), "user:" + digest(form["refresh_token"])[:10])
    return _oauth_error("unsupported_grant_type", "Invalid grant_type.")


def issue(state: EmulatorState, identity: str) -> Response:
    lifetime = state.config.token_lifetime_s
    access = state.credentials.issue(identity, lifetime)
    doc = {
        "access_token": access,
        "expires_in": int(lifetime),
        "token_type": "Bearer",
        "scope": " ".join(state.config.scopes),
    }
    return JSONResponse(doc, headers={"cache-control": "no-store"})


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            doc = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}
    # Parsed by hand: Starlette's form parser needs python-multipart, which nothing else here needs.
    return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}


def _jwt_issuer(assertion: str) -> str | None:
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        payload: Any = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    iss = payload.get("iss") if isinstance(payload, dict) else None
    return iss if isinstance(iss, str) and iss else None


routes = [Route("/token", token, methods=["POST"]), Route("/oauth2/v4/token", token, methods=["POST"])]
