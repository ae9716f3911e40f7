"""Errors as OpenAI's API gives them: ``{"error": {"message", "type", "code", "param"}}`` with a fitting status.

Every veokit error maps here once (:func:`from_veokit`), so a route raises what the service layer raised and
the client gets a 4xx naming the field (with OpenAI's parameter names: ``seconds``, ``size``,
``input_reference``), never a traceback. A 500 says "internal error, please report it" and is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from veokit import errors as E

log = logging.getLogger("veokit.server")

# veokit's request fields, as OpenAI's Videos API names the parameters they come from.
PARAMS = {
    "duration_seconds": "seconds",
    "aspect_ratio": "size",
    "resolution": "size",
    "image": "input_reference",
}


BRIDGE_PREFIX = "/api/veo3/"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}  # more about where, beside OpenAI's fields (a storyboard's shot and line)

    def with_message(self, message: str) -> ApiError:
        return ApiError(self.status, message, type=self.type, code=self.code, param=self.param, headers=self.headers)

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "code": self.code, "param": self.param}
        return {"error": {**error, **self.extra}}

    def response(self, path: str = "") -> JSONResponse:
        body = self.bridge_body() if path.startswith(BRIDGE_PREFIX) else self.body()
        return JSONResponse(body, status_code=self.status, headers=self.headers)

    @property
    def retryable(self) -> bool:
        return self.status in (429, 502, 503)

    def bridge_body(self) -> dict[str, Any]:
        """The design's error shape, for its /api/veo3 routes."""
        code = self.code or self.type
        return {"success": False, "error": {"code": code, "message": self.message, "retryable": self.retryable}}


def not_found(what: str = "video") -> ApiError:
    return ApiError(404, f"No {what} found with that id for this key.", code=f"{what}_not_found")


def param_of(field: str | None) -> str | None:
    if field is None:
        return None
    head = field.split(".")[0]
    return PARAMS.get(head, head)


def renamed(err: ApiError, names: dict[str, str]) -> ApiError:
    """The error with its parameter called as the caller knows it (``names``: ours → theirs; a dotted path is
    named by its head), in ``param`` and at the head of the message ("duration_seconds: …" → "seconds: …")."""
    field = err.param
    if field is None:
        return err
    head = field.split(".")[0]
    name = names.get(head, head)
    message = err.message
    for said in dict.fromkeys((field, head)):
        if name != head and message.startswith(f"{said}:"):
            message = name + message[len(said) :]
            break
    return ApiError(err.status, message, type=err.type, code=err.code, param=name, headers=err.headers)


def from_veokit(exc: E.VeokitError) -> ApiError:
    """The one mapping from veokit's error tree to HTTP."""
    message = exc.message
    if isinstance(exc, E.IdempotencyConflict):
        return ApiError(409, message, code="idempotency_key_reused", param="Idempotency-Key")
    if isinstance(exc, E.BudgetExceeded):
        return ApiError(402, message, type="insufficient_quota", code="budget_exceeded")
    if isinstance(exc, E.TooManyInFlight):
        return ApiError(429, message, type="rate_limit_error", code="too_many_in_flight", headers={"Retry-After": "5"})
    if isinstance(exc, E.InputTooLarge):
        return ApiError(413, message, code="input_too_large", param=param_of(getattr(exc, "field", None)))
    if isinstance(exc, E.InvalidRequest):
        field = getattr(exc, "field", None)
        if field == "out_dir":  # the service's own directory, not the caller's input: theirs is fine
            log.error("cannot accept videos: %s", message)
            return ApiError(
                503,
                "the service cannot save videos now (its output directory is not writable); nothing was recorded "
                "or paid: try again later",
                type="server_error",
                code="storage_unavailable",
                headers={"Retry-After": "30"},
            )
        code = "model_not_found" if isinstance(exc, E.ModelNotFound) else "invalid_value"
        return renamed(ApiError(400, message, code=code, param=field), PARAMS)
    if isinstance(exc, E.JobNotFound):
        return not_found()
    if isinstance(exc, E.JobStateError):
        return ApiError(409, message, code="invalid_state")
    if isinstance(exc, E.ConfigError):
        return ApiError(503, f"the service is not configured for this: {message}", type="server_error")
    if isinstance(exc, E.RateLimited | E.QuotaExhausted):
        return ApiError(429, message, type="rate_limit_error", code="upstream_rate_limited")
    if isinstance(exc, E.ProviderError | E.NetworkError):
        return ApiError(502, message, type="server_error", code="upstream_error")
    return ApiError(500, message, type="server_error")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response(request.url.path)

    @app.exception_handler(E.VeokitError)
    async def veokit_error(request: Request, exc: E.VeokitError) -> JSONResponse:
        return from_veokit(exc).response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        param = where[0] if where else None
        text = f"{param}: {first.get('msg', 'invalid value')}" if param else str(first.get("msg", "invalid request"))
        return ApiError(400, text, code="invalid_value", param=param).response(request.url.path)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = "invalid_request_error" if exc.status_code < 500 else "server_error"
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No such route: {where} (the API is described at /docs)"
        elif exc.status_code == 405:
            detail = f"{where} is not supported (the API is described at /docs)"
        return ApiError(exc.status_code, detail, type=kind, headers=dict(exc.headers or {})).response(request.url.path)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error serving %s %s", request.method, request.url.path)
        return ApiError(
            500, "internal error, please report it (the server log has the details)", type="server_error"
        ).response(request.url.path)
