"""Who is calling: API keys (``x-goog-api-key`` or ``?key=``) and OAuth bearer tokens.

Each check returns the caller's credential id (never the secret) or raises the google.rpc error the
real service answers with. Vertex wants a bearer token (401 UNAUTHENTICATED otherwise); the Gemini API
and Vertex express mode want a key (403 without one, 400 API_KEY_INVALID for a wrong one).
"""

from __future__ import annotations

from starlette.requests import Request

from veokit.emulator.credentials import TokenCheck
from veokit.emulator.errors import api_key_invalid, credentials_invalid, credentials_missing, unregistered_caller
from veokit.emulator.state import EmulatorState

VERTEX_SERVICE = "aiplatform.googleapis.com"
GEMINI_SERVICE = "generativelanguage.googleapis.com"


def api_key(request: Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key") or None


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def require_bearer(state: EmulatorState, request: Request, service: str) -> str:
    token = bearer(request)
    if token is None:
        raise credentials_missing(service)
    return _check_token(state, token, service)


def require_key(state: EmulatorState, request: Request, service: str) -> str:
    key = api_key(request)
    if key is None:
        raise unregistered_caller()
    cred = state.credentials.check_key(key)
    if cred is None:
        raise api_key_invalid(service)
    return cred


def require_key_or_bearer(state: EmulatorState, request: Request, service: str, *, oauth_first: bool) -> str:
    """Vertex polls and express mode: an OAuth token (wins when both are sent) or an API key.

    With neither, ``oauth_first`` routes (the project path) answer 401 like Vertex; key-first routes
    (express mode) answer 403 like every API-key endpoint.
    """
    token = bearer(request)
    if token is not None:
        return _check_token(state, token, service)
    if oauth_first and api_key(request) is None:
        raise credentials_missing(service)
    return require_key(state, request, service)


def _check_token(state: EmulatorState, token: str, service: str) -> str:
    check, cred = state.credentials.check_token(token)
    if check is TokenCheck.VALID and cred is not None:
        return cred
    raise credentials_invalid(service, expired=check is TokenCheck.EXPIRED)
