"""Long-running operations and what they produce (Gemini files, Cloud Storage objects).

An operation is done once its latency has elapsed on the emulator clock *and* its renders finished.
Its result is fixed the first time someone observes it done (see :meth:`EmulatorState.resolve`), so
every later poll returns the same file ids and URIs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from veokit.emulator.clock import rfc3339
from veokit.emulator.generation import GenerationRequest
from veokit.emulator.outcome import Outcome
from veokit.emulator.render_pool import Recipe, RenderedFile

OperationState = Literal["running", "succeeded", "filtered", "failed"]


@dataclass(frozen=True)
class DeliveredVideo:
    file: RenderedFile
    file_id: str | None = None  # Gemini: files/{id}
    gcs_uri: str | None = None  # Vertex with storageUri


@dataclass(frozen=True)
class OperationResult:
    done_at: float
    videos: tuple[DeliveredVideo, ...] = ()
    filtered_reasons: tuple[str, ...] = ()
    filtered_count: int = 0
    error: tuple[int, str] | None = None  # (google.rpc code, message)

    @property
    def state(self) -> OperationState:
        if self.error is not None:
            return "failed"
        return "succeeded" if self.videos or not self.filtered_count else "filtered"


@dataclass
class Operation:
    id: str
    name: str
    protocol: Literal["vertex", "gemini"]
    model: str
    credential: str
    created_at: float
    ready_at: float
    request: GenerationRequest
    outcome: Outcome
    recipes: list[Recipe] = field(default_factory=list)  # what ``renders`` render (kept to re-render after a restart)
    renders: list[Future[RenderedFile]] = field(default_factory=list)
    render_done_at: float | None = None
    result: OperationResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def watch_renders(self, now: Callable[[], float]) -> None:
        """Record (by the emulator clock) when the last render finished; ``now`` is ``clock.now``."""
        if not self.renders:
            self.render_done_at = self.created_at
            return

        def finished(_: Future[RenderedFile]) -> None:
            with self._lock:
                if self.render_done_at is None and all(f.done() for f in self.renders):
                    self.render_done_at = now()

        for fut in self.renders:
            fut.add_done_callback(finished)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "protocol": self.protocol,
            "state": self.result.state if self.result else "running",
            "created": rfc3339(self.created_at),
            "ready": rfc3339(self.ready_at),
            "done": rfc3339(self.result.done_at) if self.result else None,
            "samples": self.request.sample_count,
            "filtered": self.result.filtered_count if self.result else None,
            "outcome": self.outcome.kind,
            "parameters": self.request.parameters,
            "request_sha256": self.request.request_sha256,
        }


@dataclass
class StoredFile:
    """A generated video in the Gemini Files API (downloadable until ``expires_at``)."""

    id: str
    file: RenderedFile
    model: str
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class GcsObject:
    bucket: str
    name: str
    file: RenderedFile
    model: str
    created_at: float
    generation: int
    content_type: str = "video/mp4"

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}"


@dataclass(frozen=True)
class ContentGrant:
    """A signed content URL: no key needed, but only for a short time."""

    file_id: str
    expires_at: float
