"""Every error veokit raises, in one tree, each with the CLI exit code it ends a command with.

    VeokitError ................................. 1  an error of no more specific kind (also: an unknown recorded type)
    ├── ConfigError ............................. 2  settings missing or invalid (names each problem)
    ├── BudgetExceeded .......................... 2  a spending cap refuses the submit: nothing sent, job stays queued
    ├── TooManyInFlight ......................... 2  an HTTP service key has its most videos in flight: none recorded
    ├── InvalidRequest .......................... 2  caught before any network call, or a 400 from the provider
    │   ├── ModelNotFound ....................... 2  unknown model id (404)
    │   │   └── ModelRetired .................... 2  the model was shut down; names the replacement
    │   ├── InputTooLarge / UnsupportedMedia .... 2  local files we refuse to send
    │   ├── StoryboardError ..................... 2  a storyboard that cannot be planned; names file, line and shot
    │   ├── IdempotencyConflict ................. 2  an HTTP service Idempotency-Key reused for another request
    │   └── KeyNameError ........................ 2  an HTTP service key name that is taken, unknown or malformed
    ├── ProviderError ........................... 3  the provider answered, and it was not a success
    │   ├── AuthenticationError ................. 3  401, bad/expired credentials (never retryable)
    │   ├── PermissionDenied .................... 3  403
    │   ├── RateLimited ......................... 3  429; carries the server's retry delay when it gave one
    │   ├── QuotaExhausted ...................... 3  429 daily/spend quota: retrying soon will not help
    │   ├── BillingError ........................ 3  402 / FAILED_PRECONDITION billing, no credits
    │   ├── ServerError ......................... 3  5xx (retryable)
    │   ├── CircuitOpen ......................... 3  held back after repeated failures; failover moves on
    │   ├── ChatModelFailed ..................... 3  the agent's chat model (not a video provider) failed
    │   └── UnexpectedResponse .................. 3  an answer we cannot use (not JSON, a redirect, undecodable)
    │       └── InlineJsonError ................. 3  a body with an inline video is malformed (base64, JSON)
    ├── NetworkError ............................ 3  no answer: connect failure or timeout before sending
    │   ├── ResponseTruncated ................... 3  the request went out, its answer did not arrive whole (reset,
    │   │                                            read timeout, fewer bytes than announced); resent unless paid
    │   └── SubmitOutcomeUnknown ................ 6  the paid request may have reached the server: never resend
    ├── GenerationError ......................... 3  the operation finished without a video
    │   ├── ContentFiltered ..................... 4  RAI-filtered, with the provider's reasons; cost 0
    │   └── GenerationFailed .................... 3  done with an error status
    ├── DeadlineExceeded ........................ 5  the job ran past its deadline
    ├── DownloadError ........................... 3  fetching the result failed
    │   ├── DownloadExpired ..................... 3  past the provider's retention window (404/410)
    │   └── CorruptVideo ........................ 3  not a valid MP4, truncated, or not what was asked
    ├── MediaError .............................. 3  a video file cannot be used (media/: probe, frames, stitching)
    │   └── CorruptMediaError ................... 3  not a whole, decodable MP4 (or not as expected); names it
    ├── EnvironmentFault ........................ 7  this machine cannot keep jobs or videos: nothing was sent or lost
    │   ├── StoreUnavailable .................... 7  the database cannot be opened or reached (host, refused, file)
    │   ├── StoreLocked ......................... 7  locked by another process past the retry bound
    │   ├── StoreCorrupt ........................ 7  not a veokit database, damaged, or an empty (0-byte) file
    │   ├── StoreReadOnly ....................... 7  a read-only file, directory or server
    │   ├── DiskFull ............................ 7  no space left (database, download): free space, `veokit resume`
    │   └── LocalPermissionDenied ............... 7  a local file or directory we may not read or write
    └── JobError ................................ 2
        ├── JobNotFound ......................... 2
        └── JobStateError ....................... 2  e.g. resuming a job that needs attention
            ├── NeedsAttention .................. 6  the job is set aside for your decision (retry, abandon, …)
            ├── LeaseLost ....................... 2  another worker owns the job now; this one must stop
            ├── SubmitInFlight .................. 2  mid-submit under a worker that may still be waiting for the
            │                                        provider's answer: looked at again later, never resent
            └── TwinInFlight .................... 2  an identical seeded job is being paid for: this one waits for
                                                     it and gets its video at $0 (nothing sent, nothing reserved)

Each error carries ``retryable``, ``provider``, the HTTP ``status_code``, the provider's own ``status``
and ``reason``, and never a secret: messages are built from fields we control, and provider bodies pass
through :func:`redact` first. A class with more to say declares those attributes once, in ``fields``;
:meth:`VeokitError.to_dict` records them all and :func:`from_dict` rebuilds the same error from a job's row.

Exit codes (:class:`ExitCode`): 0 done · 2 bad input or configuration · 3 provider, network or download
failure · 4 content filtered · 5 timed out · 6 needs your decision · 7 this machine's database or disk
cannot be used · 130 interrupted. A command that ends
many jobs exits with the most pressing of their codes (:func:`most_pressing`).
"""

from __future__ import annotations

import enum
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

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


class ExitCode(enum.IntEnum):
    """What a veokit command's exit status means (README, "Exit codes")."""

    OK = 0
    ERROR = 1  # not one of ours: an internal error, or an error of no more specific kind
    BAD_INPUT = 2
    FAILED = 3
    FILTERED = 4
    TIMED_OUT = 5
    NEEDS_DECISION = 6
    ENVIRONMENT = 7  # the database or the local disk cannot be used (locked, unreachable, corrupt, full, denied)
    INTERRUPTED = 130


# When jobs end differently, the code that asks the most of the user wins: a decision only they can make, a
# job set aside at its deadline, input or a cap to change, a failure to retry, a prompt the filter refused.
_PRESSING = (
    ExitCode.INTERRUPTED,
    ExitCode.ENVIRONMENT,
    ExitCode.NEEDS_DECISION,
    ExitCode.TIMED_OUT,
    ExitCode.BAD_INPUT,
    ExitCode.FAILED,
    ExitCode.ERROR,
    ExitCode.FILTERED,
)


def most_pressing(codes: Iterable[int]) -> ExitCode:
    """One exit code for many outcomes: ``OK`` only when every one is (and when there are none)."""
    seen = {ExitCode(c) for c in codes} - {ExitCode.OK}
    return next((c for c in _PRESSING if c in seen), ExitCode.OK)


Load = Callable[[Any], Any]
"""Turns a recorded (JSON) value, or ``None`` when the record lacks it, back into the attribute's type."""


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _str_list(value: Any) -> list[str]:
    return [str(v) for v in value or []]


def _path(value: Any) -> pathlib.Path | None:
    return None if value is None else pathlib.Path(value)


def recorded(**loads: Load) -> Mapping[str, Load]:
    """A class's ``fields``: the attributes it adds, each with how to read it back from a record."""
    return MappingProxyType(loads)


def _errors(value: Any) -> tuple[Any, ...]:
    return tuple(from_dict(record) for record in value or [])


def _jsonable(value: Any, owner: VeokitError) -> Any:
    """A field's value as JSON; errors it holds become their records (the owner itself is implied, not repeated)."""
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v, owner) for v in value if v is not owner]
    if isinstance(value, VeokitError):
        return value.to_dict()
    return value


class VeokitError(Exception):
    """Base of every veokit error."""

    retryable: bool = False
    exit_code: ClassVar[ExitCode] = ExitCode.ERROR
    # This class's own attributes beyond the common ones, each with how to read it back from a record.
    # Subclasses inherit their bases' fields; ``to_dict``/``from_dict`` carry every one of them.
    fields: ClassVar[Mapping[str, Load]] = recorded()
    _all_fields: ClassVar[dict[str, Load]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        merged: dict[str, Load] = {}
        for base in reversed(cls.__mro__):
            merged.update(vars(base).get("fields", {}))
        cls._all_fields = merged

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
        """A JSON-able record of this error (stored on the job); :func:`from_dict` reads it back."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "provider": self.provider,
            "status_code": self.status_code,
            "status": self.status,
            "reason": self.reason,
            "retryable": self.retryable,
            **{name: _jsonable(getattr(self, name), self) for name in self._all_fields},
        }


class ConfigError(VeokitError):
    exit_code = ExitCode.BAD_INPUT


class BudgetExceeded(VeokitError):
    """Submitting this job would exceed a spending cap. Nothing was sent and nothing was reserved.

    ``cap`` is ``per_job``, ``daily`` or ``provider``; the job stays ``queued`` so it can run once the cap
    is raised, the day rolls over, or in-flight reservations are released (a filtered or failed job).
    """

    exit_code = ExitCode.BAD_INPUT
    fields = recorded(cap=_text, limit_usd=_float, committed_usd=_float, estimate_usd=_float)

    def __init__(
        self,
        message: str,
        *,
        cap: str = "",
        limit_usd: float = 0.0,
        committed_usd: float = 0.0,
        estimate_usd: float = 0.0,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.cap = cap
        self.limit_usd = limit_usd
        self.committed_usd = committed_usd
        self.estimate_usd = estimate_usd


class TooManyInFlight(VeokitError):
    """A key of the HTTP service already has ``limit`` videos in flight: nothing was recorded. Retryable: it
    can be admitted once one of them ends."""

    retryable = True
    exit_code = ExitCode.BAD_INPUT
    fields = recorded(limit=_int)

    def __init__(self, message: str, *, limit: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.limit = limit


class InvalidRequest(VeokitError):
    """The request cannot succeed as written. ``field`` names the culprit, ``allowed`` what would work."""

    exit_code = ExitCode.BAD_INPUT
    fields = recorded(field=_same, allowed=_same)

    def __init__(self, message: str, *, field: str | None = None, allowed: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field
        self.allowed = allowed


class ModelNotFound(InvalidRequest):
    pass


class ModelRetired(ModelNotFound):
    fields = recorded(replacement=_same)

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
    all; the message is the first one's line. A problem found alone is its own only problem."""

    fields = recorded(line=_same, shot=_same, problems=_errors)

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
        self.problems = problems

    @property
    def problems(self) -> tuple[StoryboardError, ...]:
        return self._problems or (self,)

    @problems.setter
    def problems(self, value: tuple[StoryboardError, ...]) -> None:
        self._problems = tuple(value)


class IdempotencyConflict(InvalidRequest):
    """An ``Idempotency-Key`` the HTTP service's key already used for a different request."""


class KeyNameError(InvalidRequest):
    """A key name (HTTP service) that is taken, unknown, or not a valid name."""


class ProviderError(VeokitError):
    exit_code = ExitCode.FAILED


class AuthenticationError(ProviderError):
    pass


class PermissionDenied(ProviderError):
    pass


class RateLimited(ProviderError):
    retryable = True
    fields = recorded(retry_after_s=_float)

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class QuotaExhausted(ProviderError):
    pass


class BillingError(ProviderError):
    pass


class ServerError(ProviderError):
    retryable = True


class CircuitOpen(ProviderError):
    """The provider failed repeatedly; calls are held back until a probe succeeds. Failover moves on."""


class ChatModelFailed(ProviderError):
    """The agent's chat model (reached through LiteLLM) failed; its message is redacted, the first line only."""


class UnexpectedResponse(ProviderError):
    pass


class InlineJsonError(UnexpectedResponse):
    """A JSON body carrying an inline (base64) video is malformed. A body cut short is :class:`ResponseTruncated`."""


class NetworkError(VeokitError):
    """No usable answer. Raised as such, nothing reached the server: sending again is safe, even a paid submit."""

    exit_code = ExitCode.FAILED
    retryable = True


class ResponseTruncated(NetworkError):
    """The request went out, and its answer did not arrive whole: the connection broke (before the first byte,
    or part-way), or the body was shorter than announced. Asking again is safe unless the request was paid,
    which is :class:`SubmitOutcomeUnknown` instead; a download resumes from the bytes it has."""


class SubmitOutcomeUnknown(NetworkError):
    """The submit may have been accepted (the connection broke after the body was sent)."""

    exit_code = ExitCode.NEEDS_DECISION
    retryable = False


class GenerationError(VeokitError):
    exit_code = ExitCode.FAILED


class ContentFiltered(GenerationError):
    exit_code = ExitCode.FILTERED
    fields = recorded(reasons=_str_list)

    def __init__(self, message: str, *, reasons: list[str] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.reasons = list(reasons or [])


class GenerationFailed(GenerationError):
    pass


class DeadlineExceeded(VeokitError):
    exit_code = ExitCode.TIMED_OUT


class DownloadError(VeokitError):
    exit_code = ExitCode.FAILED
    retryable = True


class DownloadExpired(DownloadError):
    retryable = False


class CorruptVideo(DownloadError):
    retryable = True


class MediaError(VeokitError):
    """Base class for media-layer failures."""

    exit_code = ExitCode.FAILED


class CorruptMediaError(MediaError):
    """The file is not a complete, decodable MP4 with a video stream (or does not match expectations).

    ``reason`` says what is wrong, ``path`` which file."""

    fields = recorded(path=_path)

    def __init__(self, path: str | os.PathLike[str], reason: str, **kw: Any) -> None:
        self.path = pathlib.Path(path)
        super().__init__(f"{self.path}: {reason}", reason=reason, **kw)


class EnvironmentFault(VeokitError):
    """This machine cannot keep jobs or videos right now: the job database or the local disk. Nothing was sent
    or lost because of it (a job stops where its last write left it; ``veokit resume`` continues it)."""

    exit_code = ExitCode.ENVIRONMENT


class StoreUnavailable(EnvironmentFault):
    pass


class StoreLocked(EnvironmentFault):
    pass


class StoreCorrupt(EnvironmentFault):
    pass


class StoreReadOnly(EnvironmentFault):
    pass


class DiskFull(EnvironmentFault):
    pass


class LocalPermissionDenied(EnvironmentFault):
    pass


class JobError(VeokitError):
    exit_code = ExitCode.BAD_INPUT


class JobNotFound(JobError):
    pass


class JobStateError(JobError):
    pass


class NeedsAttention(JobStateError):
    """The job is set aside until someone decides (``veokit jobs retry|abandon|reconcile``, or ``resume``).

    A job that needs attention usually records a more specific reason (:class:`SubmitOutcomeUnknown`,
    :class:`DeadlineExceeded`, the error that stopped its polls); this is the reason when it recorded none."""

    exit_code = ExitCode.NEEDS_DECISION


class LeaseLost(JobStateError):
    """Another worker took over the job (its lease token no longer matches): stop working on it."""


class SubmitInFlight(JobStateError):
    """The job is in ``submitting`` and the worker that began its paid call may still be waiting for the answer
    (it lost its lease, but is not known to have died). Nothing is decided before that call is over: the job
    is looked at again after ``retry_after_s``, by when the operation is recorded or the call has ended."""

    fields = recorded(retry_after_s=_float)

    def __init__(self, message: str, *, retry_after_s: float = 0.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class TwinInFlight(JobStateError):
    """Not submitted: an identical request with the same seed (``twin_id``) is being paid for, or has just
    been delivered. The job stays ``queued`` with ``twin_of`` set, and ends as its twin does (see
    :mod:`veokit.store.twins`)."""

    fields = recorded(twin_id=_text)

    def __init__(self, message: str, *, twin_id: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.twin_id = twin_id


def _types() -> dict[str, type[VeokitError]]:
    return {
        name: obj
        for name, obj in globals().items()
        if isinstance(obj, type) and issubclass(obj, VeokitError) and obj.__module__ == __name__
    }


def from_dict(data: Mapping[str, Any]) -> VeokitError:
    """Rebuild an error recorded on a job (``VeokitError.to_dict``) as the same type, with every field.

    An unknown type (recorded by a newer veokit) comes back as a plain :class:`VeokitError`."""
    cls = _types().get(str(data.get("type")), VeokitError)
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
    for name, load in cls._all_fields.items():
        setattr(err, name, load(data.get(name)))
    return err


def from_record(data: Mapping[str, Any] | None) -> VeokitError | None:
    """The error a job recorded (its ``error`` column), as its type; ``None`` when it recorded none.

    Test what it is with ``isinstance``, never by its ``type`` string or its message."""
    return None if not data else from_dict(data)
