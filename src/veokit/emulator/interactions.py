"""Interactions (Gemini Omni): one record each, its lifecycle, and what it delivered and billed.

An interaction starts rendering when it is created, as an operation does, and completes once its latency has
elapsed on the emulator clock *and* the render finished. Its result (the delivered video, the usage, an
error) is fixed the first time anyone observes it, so every later GET sees the same. A persisted emulator
(``state_dir``) writes each interaction when it is created, resolved or cancelled, and one still running at a
restart renders again from its recipe. This module holds state only; the routes and the JSON shapes are in
:mod:`veokit.emulator.omni`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from veokit.emulator.operations import DeliveredVideo
from veokit.emulator.outcome import Outcome
from veokit.emulator.render_pool import Recipe, RenderedFile

if TYPE_CHECKING:
    from veokit.emulator.state import EmulatorState

Host = Literal["gemini", "vertex"]
InteractionState = Literal["completed", "failed", "cancelled"]
INTERNAL_FAILURE = "Video generation failed due to an internal error."


@dataclass(frozen=True)
class Billing:
    """The tokens the interaction reports as ``usage`` once it completes."""

    input_tokens: int
    input_by_modality: dict[str, int]
    video_tokens: int
    thought_tokens: int


@dataclass(frozen=True)
class InteractionResult:
    done_at: float
    state: InteractionState
    video: DeliveredVideo | None = None
    error: tuple[str, str] | None = None  # (Interactions error code, message)
    billed: bool = False


@dataclass
class Interaction:
    id: str
    host: Host
    collection: str  # "interactions" or "projects/{p}/locations/{l}/interactions": where it can be read
    model: str
    credential: str
    created_at: float
    ready_at: float
    outcome: Outcome
    delivery: str  # "inline" | "uri"
    gcs_uri: str | None
    duration_s: float  # of the delivered video (an extension includes the tail it continues)
    billing: Billing
    echo: dict[str, Any]  # what the client sent, as the resource shows it back (media without their bytes)
    prompt: str = ""  # what an operation hold's ``prompt`` matches
    recipe: Recipe | None = None  # what it renders (None when it fails or is blocked without rendering)
    render: Future[RenderedFile] | None = None
    render_done_at: float | None = None
    canceled: bool = False
    result: InteractionResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def watch_render(self, now: Any) -> None:
        if self.render is None:
            self.render_done_at = self.created_at
            return

        def finished(_: Future[RenderedFile]) -> None:
            with self._lock:
                if self.render_done_at is None:
                    self.render_done_at = now()

        self.render.add_done_callback(finished)


class InteractionStore:
    def __init__(self, state: EmulatorState, lock: threading.RLock) -> None:
        self._state = state
        # The state's own lock: resolving delivers into the state's files (under its lock) while the state's
        # reset clears this store, so two locks would be taken in both orders.
        self._lock = lock
        self._items: dict[str, Interaction] = {}

    def add(self, item: Interaction) -> Interaction:
        item.watch_render(self._state.clock.now)
        with self._lock:
            self._items[item.id] = item
            self._state.persist.interaction(item)
        return item

    def get(self, ident: str, host: Host, collection: str) -> Interaction | None:
        """The interaction, if it lives on ``host`` under ``collection`` (another project's, or another API's, is
        not found)."""
        with self._lock:
            item = self._items.get(ident)
        return item if item is not None and (item.host, item.collection) == (host, collection) else None

    def all(self) -> list[Interaction]:
        with self._lock:
            return list(self._items.values())

    def resolve(self, item: Interaction) -> InteractionResult | None:
        with self._lock:
            if item.result is not None:
                return item.result
            now = self._state.clock.now()
            if item.canceled:
                item.result = InteractionResult(now, "cancelled")
            elif self._state.holds.keeps_running(item.id, item.model, item.prompt) or now < item.ready_at:
                return None
            elif item.outcome.kind == "filtered":
                item.result = InteractionResult(now, "failed", error=("safety", item.outcome.reasons[0]))
            elif item.outcome.kind == "failed":
                item.result = InteractionResult(now, "failed", error=("api_error", item.outcome.message))
            elif item.render is None or not item.render.done():
                return None
            elif item.render.exception() is not None:
                item.result = InteractionResult(now, "failed", error=("api_error", INTERNAL_FAILURE))
            else:
                done_at = max(item.ready_at, item.render_done_at or item.ready_at)
                video = self._deliver(item, item.render.result(), done_at)
                item.result = InteractionResult(done_at, "completed", video=video, billed=True)
            self._state.persist.interaction(item)  # under the lock, so records land in the order they changed
            return item.result

    def _deliver(self, item: Interaction, rendered: RenderedFile, done_at: float) -> DeliveredVideo:
        if item.delivery == "inline":
            return DeliveredVideo(rendered)
        if item.host == "gemini":
            stored = self._state.store_file(rendered, item.model, done_at)
            return DeliveredVideo(rendered, file_id=stored.id)
        assert item.gcs_uri is not None
        bucket, _, prefix = item.gcs_uri[len("gs://") :].partition("/")
        name = "/".join(p for p in (prefix.strip("/"), item.id, "sample_0.mp4") if p)
        obj = self._state.store_object(bucket, name, rendered, item.model, done_at)
        return DeliveredVideo(rendered, gcs_uri=obj.uri)

    def cancel(self, item: Interaction) -> bool:
        """True when the interaction was still running (and is now cancelled)."""
        with self._lock:
            if self.resolve(item) is not None:
                return False
            item.canceled = True
            self.resolve(item)
            return True

    def restore(self) -> None:
        """Take back what a persisted emulator kept; a render an unresolved interaction needs starts again (a
        finished one is found in the render cache)."""
        items = self._state.persist.interactions()
        for item in items:
            if item.result is None and item.recipe is not None:
                item.render = self._state.renders.submit(item.recipe)
            item.watch_render(self._state.clock.now)
        with self._lock:
            self._items.update({i.id: i for i in items})

    def reset(self) -> None:
        with self._lock:
            self._items.clear()
