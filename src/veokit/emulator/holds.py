"""Holds: keep what a test chooses waiting until the test lets it go, instead of guessing with latencies.

A test that must act *while* something is in a given state (kill a client while its job is running, stop a
worker while a paid submit is in flight) cannot rely on "the emulator takes 4 s, so it will still be running":
on a loaded machine the client may take longer than that just to start. A hold makes the state last until the
test releases it, however slow the machine is.

Two targets, added and released through ``/_emulator/holds`` (see ``admin.py``) or ``state.holds``:

- ``operation`` (the default): matching operations and tasks (every protocol) stay running: polls answer
  "not done yet" for as long as the hold lasts. Once it is released they finish as usual: when their latency
  has elapsed on the emulator clock and their render is done (usually at once).
- ``submit`` | ``poll`` | ``download``: matching requests are parked on arrival until the hold is released.
  A submit hold parks ``when: "before_body"`` (the default: nothing read, nothing accepted) or
  ``"after_body"`` (the operation is accepted and billed, the answer not yet sent: a paid call in flight).

A hold matches on ``model`` (exact, optional) and, for operations, ``prompt`` (a substring, optional). Each
reports how many operations it keeps running (``held``) and how many requests it has parked now
(``waiting``) and in all (``parked``), so a test waits for "the job is being held" rather than for time.
Releasing a hold removes it; ``reset`` and shutdown release every hold, so no request stays parked forever.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Target = Literal["operation", "submit", "poll", "download"]
TARGETS: tuple[Target, ...] = ("operation", "submit", "poll", "download")
WHEN = ("before_body", "after_body")


class HoldSpecError(ValueError):
    """A hold the admin API cannot accept; the message names the field."""


@dataclass
class Hold:
    id: str
    target: Target = "operation"
    model: str | None = None
    prompt: str | None = None
    when: str = "before_body"
    held: set[str] = field(default_factory=set)  # operation / task ids kept running by this hold
    waiting: int = 0  # requests parked right now
    parked: int = 0  # requests parked in all
    released: bool = False
    _wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list, repr=False)

    def describe(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "target": self.target, "model": self.model}
        if self.target == "operation":
            doc |= {"prompt": self.prompt, "held": len(self.held)}
        else:
            doc |= {"waiting": self.waiting, "parked": self.parked}
            if self.target == "submit":
                doc["when"] = self.when
        return doc


def parse_hold(doc: Any) -> dict[str, Any]:
    """Validate an admin API body; returns the keyword arguments of :meth:`Holds.add`."""
    if not isinstance(doc, dict):
        raise HoldSpecError("expected an object")
    unknown = set(doc) - {"id", "target", "model", "prompt", "when"}
    if unknown:
        raise HoldSpecError(f"unknown fields {sorted(unknown)}; a hold has id, target, model, prompt, when")
    target = doc.get("target", "operation")
    if target not in TARGETS:
        raise HoldSpecError(f"target must be one of: {', '.join(TARGETS)}")
    for key in ("id", "model", "prompt"):
        if doc.get(key) is not None and (not isinstance(doc[key], str) or not doc[key]):
            raise HoldSpecError(f"{key} must be a non-empty string")
    if doc.get("prompt") is not None and target != "operation":
        raise HoldSpecError("prompt can only select operations (target: operation)")
    when = doc.get("when", "before_body")
    if when not in WHEN or (when != "before_body" and target != "submit"):
        raise HoldSpecError("when must be before_body or after_body, and after_body only for target: submit")
    return {
        "hold_id": doc.get("id"),
        "target": target,
        "model": doc.get("model"),
        "prompt": doc.get("prompt"),
        "when": when,
    }


class Holds:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}
        self._ids = itertools.count(1)

    def add(
        self,
        target: Target = "operation",
        *,
        model: str | None = None,
        prompt: str | None = None,
        when: str = "before_body",
        hold_id: str | None = None,
    ) -> Hold:
        with self._lock:
            if hold_id is None:
                hold_id = f"hold-{next(self._ids)}"
            if hold_id in self._holds:
                raise HoldSpecError(f"a hold named {hold_id!r} is in place already; release it first")
            hold = self._holds[hold_id] = Hold(hold_id, target, model, prompt, when)
            return hold

    def release(self, hold_id: str | None = None) -> list[Hold]:
        """Release one hold (by id) or, with no id, every hold; returns what was released."""
        with self._lock:
            ids = list(self._holds) if hold_id is None else [hold_id] if hold_id in self._holds else []
            gone = [self._holds.pop(i) for i in ids]
            for hold in gone:
                hold.released = True
                wakers, hold._wakers = hold._wakers, []
                for loop, event in wakers:
                    if not loop.is_closed():
                        loop.call_soon_threadsafe(event.set)
        return gone

    def reset(self) -> None:
        """Release every hold and number new ones from 1 again (the emulator's reset)."""
        self.release()
        with self._lock:
            self._ids = itertools.count(1)

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [h.describe() for h in self._holds.values()]

    # -- what the routes ask ----------------------------------------------------------------------------
    def keeps_running(self, op_id: str, model: str, prompt: str) -> bool:
        """True while a hold keeps this operation (or task) from finishing."""
        with self._lock:
            for hold in self._holds.values():
                if hold.target != "operation" or hold.model not in (None, model):
                    continue
                if hold.prompt is not None and hold.prompt not in prompt:
                    continue
                hold.held.add(op_id)
                return True
        return False

    async def park(self, route: str, model: str | None, when: str = "before_body") -> None:
        """Wait here while a request hold matches this request (returns at once when none does)."""
        with self._lock:
            hold = next(
                (
                    h
                    for h in self._holds.values()
                    if h.target == route and h.when == when and (h.model is None or h.model == model)
                ),
                None,
            )
            if hold is None:
                return
            event = asyncio.Event()
            hold._wakers.append((asyncio.get_running_loop(), event))
            hold.waiting += 1
            hold.parked += 1
        try:
            await event.wait()
        finally:
            with self._lock:
                hold.waiting -= 1
