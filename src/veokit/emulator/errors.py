"""google.rpc error bodies, raised as :class:`RpcError` and rendered by one exception handler.

Messages copy Google's wording where it is known, because clients (and veokit's own error mapping)
match on it. No message ever includes a credential: callers only pass text built from model names,
field names and values the client sent in the request body.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# google.rpc.Code name -> (numeric code, HTTP status)
CODES: dict[str, tuple[int, int]] = {
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}
# The canonical status for an HTTP code, where several codes share one (google.rpc code mapping).
_STATUS_BY_HTTP = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def status_for_http(http_status: int) -> str:
    return _STATUS_BY_HTTP.get(http_status, "UNKNOWN" if http_status >= 500 else "FAILED_PRECONDITION")


class RpcError(Exception):
    """An HTTP error answered with ``{"error": {"code", "message", "status", "details"}}``."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.http_status = http_status if http_status is not None else CODES[status][1]

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.http_status, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}

    def response(self) -> Response:
        return JSONResponse(self.body(), status_code=self.http_status, headers=self.headers)


async def handle_rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RpcError)
    return exc.response()


def invalid_argument(message: str) -> RpcError:
    return RpcError("INVALID_ARGUMENT", message)


def not_found(message: str) -> RpcError:
    return RpcError("NOT_FOUND", message)


def error_info(reason: str, service: str, **metadata: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
        "metadata": {"service": service, **metadata},
    }


# -- authentication ------------------------------------------------------------------------------------
_OAUTH_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}


def credentials_missing(service: str) -> RpcError:
    return RpcError(
        "UNAUTHENTICATED",
        f"Request is missing required authentication credential. {_OAUTH_HINT}",
        details=[error_info("CREDENTIALS_MISSING", service)],
        headers=_WWW_AUTHENTICATE,
    )


def credentials_invalid(service: str, *, expired: bool = False) -> RpcError:
    return RpcError(
        "UNAUTHENTICATED",
        f"Request had invalid authentication credentials. {_OAUTH_HINT}",
        details=[error_info("ACCESS_TOKEN_EXPIRED" if expired else "ACCESS_TOKEN_TYPE_UNSUPPORTED", service)],
        headers=_WWW_AUTHENTICATE,
    )


def api_key_invalid(service: str) -> RpcError:
    return RpcError(
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[error_info("API_KEY_INVALID", service)],
    )


def unregistered_caller() -> RpcError:
    return RpcError(
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )
