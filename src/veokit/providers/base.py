"""The provider port: what the engine needs from any video provider, and nothing about retries or storage.

A provider turns a :class:`GenerateRequest` into the wire format, reads operation status back, and says
how to fetch each result. Errors are mapped to :mod:`veokit.errors` at this boundary.

Beyond the port, a provider may have *capabilities*, each a runtime-checkable Protocol its class implements
or not: :class:`Checkable` (a free authenticated call, for ``veokit doctor``), :class:`HasBalance` (an account
balance), :class:`Cancellable` (stop an operation) and :class:`FindsSubmits` (look up what it accepted).
Ask the class, not the name: ``isinstance(provider, Cancellable)``, or ``spec.supports(Cancellable)`` before
building one.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from veokit.errors import VeokitError
from veokit.models.catalog import Offer
from veokit.models.job import Usage
from veokit.models.request import GenerateRequest

# (provider, model) -> that provider's catalog offer; how a provider reads its own limits and ids.
OfferLookup = Callable[[str, str], Offer]


class OpState(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FILTERED = "filtered"
    FAILED = "failed"


@dataclass(frozen=True)
class RemoteVideo:
    """A result: either at a URI (fetch with :meth:`Provider.download_target`) or already spooled to disk."""

    index: int
    uri: str | None = None
    inline_path: Path | None = None
    inline_sha256: str | None = None
    inline_size: int | None = None
    mime_type: str = "video/mp4"


@dataclass(frozen=True)
class OperationStatus:
    state: OpState
    name: str
    videos: list[RemoteVideo] = field(default_factory=list)
    error: VeokitError | None = None
    progress: float | None = None
    # SUCCEEDED with some samples blocked by the safety filter (Veo with sampleCount > 1): how many, and why.
    filtered_count: int = 0
    filtered_reasons: tuple[str, ...] = ()
    # What the provider says it billed, where it says so (token-priced models report usage): the engine
    # records this instead of the catalog's rate x seconds.
    usage: Usage | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class DownloadTarget:
    """Where to GET a result. ``headers`` may hold credentials: never log, print or store them."""

    url: str
    headers: dict[str, str]
    credential_headers: frozenset[str] = frozenset()

    def __repr__(self) -> str:  # keep credentials out of tracebacks and logs
        return f"DownloadTarget(url={self.url!r}, headers=<{len(self.headers)} hidden>)"


class Provider(Protocol):
    name: str

    async def submit(self, request: GenerateRequest) -> str:
        """Start a paid generation; return the provider's operation name. Never retried by callers."""
        ...

    async def poll(self, operation_name: str, *, spool_dir: Path) -> OperationStatus:
        """Read an operation's status; inline video bytes are decoded into ``spool_dir``."""
        ...

    async def download_target(self, video: RemoteVideo) -> DownloadTarget: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Checkable(Protocol):
    async def check(self, model: str) -> None:
        """A free, authenticated call proving the credentials work and ``model`` is offered (``veokit doctor``)."""
        ...


@runtime_checkable
class HasBalance(Protocol):
    async def balance(self) -> float:
        """What is left on the account, in the provider's unit (Kie: credits)."""
        ...


@runtime_checkable
class Cancellable(Protocol):
    async def cancel(self, operation_name: str) -> None:
        """Ask the provider to stop an operation (one already running may still complete and be billed)."""
        ...


@runtime_checkable
class FindsSubmits(Protocol):
    async def find_submitted(self, request: GenerateRequest, *, since: dt.datetime) -> list[str] | None:
        """The operations the provider accepted for exactly this request since ``since`` (its listing of
        operations or tasks), oldest first; ``[]`` when it accepted none; ``None`` when it cannot tell (no
        listing here, or one it cannot read). A listing that failed for now raises its retryable error: the
        engine asks again later. Lets a job whose submit outcome is unknown be settled without a human and
        without paying twice."""
        ...
