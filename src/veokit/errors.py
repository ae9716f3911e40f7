"""Every error veokit raises, in one tree.

    VeokitError
    ├── ConfigError ............................. settings missing or invalid (names each problem)
    ├── InvalidRequest .......................... caught before any network call, or a 400 from the provider
    │   ├── ModelNotFound ....................... unknown model id (404)
    │   │   └── ModelRetired .................... the model was shut down; names the replacement
    │   ├── InputTooLarge / UnsupportedMedia .... local files we refuse to send
    │   └── StoryboardError ..................... a storyboard that cannot be planned; names file, line and shot
    ├── ProviderError ........................... the provider answered, and it was not a success
    │   ├── AuthenticationError ................. 401, bad/expired credentials (never retryable)
    │   ├── PermissionDenied .................... 403
    │   ├── RateLimited ......................... 429; carries the server's retry delay when it gave one
    │   ├── QuotaExhausted ...................... 429 daily/spend quota: retrying soon will not help
    │   ├── BillingError ........................ 402 / FAILED_PRECONDITION billing, no credits
    │   ├── ServerError ......................... 5xx (retryable)
    │   ├── CircuitOpen ......................... held back after repeated failures; failover moves on
    │   └── UnexpectedResponse .................. a body we cannot parse
    ├── NetworkError ............................ no answer: connect failure, reset, timeout
    │   └── SubmitOutcomeUnknown ................ the paid request may have reached the server: never resend
    ├── GenerationError ......................... the operation finished without a video
    │   ├── ContentFiltered ..................... RAI-filtered, with the provider's reasons; cost 0
    │   └── GenerationFailed .................... done with an error status
    ├── DeadlineExceeded ........................ the job ran past its deadline
    ├── DownloadError ........................... fetching the result failed
    │   ├── DownloadExpired ..................... past the provider's retention window (404/410)
    │   └── CorruptVideo ........................ not a valid MP4, truncated, or not what was asked
    └── JobError
        ├── JobNotFound
        └── JobStateError ....................... e.g. resuming a job that needs attention
            └── LeaseLost ....................... another worker owns the job now; this one must stop

Each error carries ``retryable``, ``provider``, the HTTP ``status_code``, the provider's own ``status``
and ``reason``, and never a secret: messages are built from fields we control, and provider bodies pass
through :func:`redact` first.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_PATTERNS = [
    re.compile(r"(?i)(key=)[^&\s\"']+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]+"),
    re.compile(r"(?i)(x-goog-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"(?i)(access_token[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"AIza[0-9A-Za-z_\-]{20,}"),
    re.compile(r"ya29\.[0-9A-Za-z_\-.]+"),
]


def redact(text: str, *secrets: str | None) -> str:
    """Remove credentials from text that may be shown or stored."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


class VeokitError(Exception):
    """Base of every veokit error."""

    retryable: bool = False
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        status: str | None = None,
        reason: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.message = redact(message)
        self.provider = provider
        self.status_code = status_code
        self.status = status
        self.reason = reason
        if retryable is not None:
            self.retryable = retryable

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "provider": self.provider,
            "status_code": self.status_code,
            "status": self.status,
            "reason": self.reason,
            "retryable": self.retryable,
        }


class ConfigError(VeokitError):
    exit_code = 2


class InvalidRequest(VeokitError):
    """The request cannot succeed as written. ``field`` names the culprit, ``allowed`` what would work."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, allowed: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field
        self.allowed = allowed

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "field": self.field, "allowed": self.allowed}


class ModelNotFound(InvalidRequest):
    pass


class ModelRetired(ModelNotFound):
    def __init__(self, message: str, *, replacement: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.replacement = replacement


class InputTooLarge(InvalidRequest):
    pass


class UnsupportedMedia(InvalidRequest):
    pass


class StoryboardError(InvalidRequest):
    """One problem in a storyboard file: ``line`` (1-based, when known) and ``shot`` (its id) say where.

    ``problems`` holds every problem found in the same pass (this one first), so a surface can list them
    all; the message is the first one's line."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        shot: str | None = None,
        problems: tuple[StoryboardError, ...] = (),
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.line = line
        self.shot = shot
        self.problems: tuple[StoryboardError, ...] = problems or (self,)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "line": self.line, "shot": self.shot}


class ProviderError(VeokitError):
    exit_code = 3


class AuthenticationError(ProviderError):
    pass


class PermissionDenied(ProviderError):
    pass


class RateLimited(ProviderError):
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class QuotaExhausted(ProviderError):
    pass


class BillingError(ProviderError):
    pass


class ServerError(ProviderError):
    retryable = True


class UnexpectedResponse(ProviderError):
    pass


class NetworkError(VeokitError):
    exit_code = 3
    retryable = True


class SubmitOutcomeUnknown(NetworkError):
    """The submit may have been accepted (the connection broke after the body was sent)."""

    retryable = False


class GenerationError(VeokitError):
    exit_code = 3


class ContentFiltered(GenerationError):
    exit_code = 4

    def __init__(self, message: str, *, reasons: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reasons = list(reasons or [])

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "reasons": self.reasons}


class GenerationFailed(GenerationError):
    pass


class DeadlineExceeded(VeokitError):
    exit_code = 5


class DownloadError(VeokitError):
    exit_code = 3
    retryable = True


class DownloadExpired(DownloadError):
    retryable = False


class CorruptVideo(DownloadError):
    retryable = True


class JobError(VeokitError):
    exit_code = 2


class JobNotFound(JobError):
    pass


class JobStateError(JobError):
    pass


class LeaseLost(JobStateError):
    """Another worker took over the job (its lease token no longer matches): stop working on it."""


def from_dict(data: dict[str, Any]) -> VeokitError:
    """Rebuild an error recorded on a job (``VeokitError.to_dict``) as the same type."""
    cls = globals().get(str(data.get("type")), VeokitError)
    if not (isinstance(cls, type) and issubclass(cls, VeokitError)):
        cls = VeokitError
    err = cls.__new__(cls)
    VeokitError.__init__(
        err,
        str(data.get("message", "")),
        provider=data.get("provider"),
        status_code=data.get("status_code"),
        status=data.get("status"),
        reason=data.get("reason"),
        retryable=data.get("retryable"),
    )
    if isinstance(err, InvalidRequest):
        err.field, err.allowed = data.get("field"), data.get("allowed")
    if isinstance(err, ContentFiltered):
        err.reasons = list(data.get("reasons") or [])
    if isinstance(err, RateLimited):
        err.retry_after_s = data.get("retry_after_s")
    if isinstance(err, ModelRetired):
        err.replacement = None
    return err


class CircuitOpen(ProviderError):
    """The provider failed repeatedly; calls are held back until a probe succeeds. Failover moves on."""
