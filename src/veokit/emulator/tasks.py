"""Tasks of the task-based resellers (Kie, fal, Replicate): one record, one lifecycle, temporary result URLs.

A task starts rendering at submit, as Google's operations do, and is done once its latency has elapsed on
the emulator clock *and* the render finished. Its result is fixed the first time anyone observes it, so
every later poll sees the same URL. Results are served without auth at ``/_emulator/tmp/{token}.mp4`` until
``result_url_ttl_s`` after the task finished, then 404, as an expired temporary file host answers. Kie's
credit balance (per key) lives here too: charged at submit, refunded when a task fails.

This module holds state only; the routes are in ``task_media`` and the per-provider modules.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from veokit.emulator.outcome import Outcome
from veokit.emulator.render import RenderSpec
from veokit.emulator.render_pool import LargeSpec, Recipe, RenderedFile

if TYPE_CHECKING:
    from veokit.emulator.state import EmulatorState

TaskState = Literal["succeeded", "filtered", "failed", "canceled"]
UPLOAD_TTL_S = 3 * 86400  # Kie deletes uploaded files after 3 days
INTERNAL_FAILURE = "Video generation failed due to an internal error."


@dataclass(frozen=True)
class Frame:
    """What to render: the emulator's renderer draws the prompt, seed and first/last frame."""

    prompt: str
    width: int
    height: int
    duration_s: float
    audio: bool
    seed: int
    first_frame: bytes | None = None
    last_frame: bytes | None = None
    extends: str | None = None  # an extension: the input video (played first) and its content hash
    extends_sha256: str | None = None


@dataclass(frozen=True)
class TaskResult:
    done_at: float
    state: TaskState
    tokens: dict[str, str] = field(default_factory=dict)  # temporary URL tokens by role ("main", "segment")
    message: str = ""
    code: int | None = None  # the provider's error code (Kie's errorCode)


@dataclass
class Upgrade:
    """Kie's 1080p version of a finished task: requested once, ready a latency later."""

    ready_at: float
    recipe: Recipe
    render: Future[RenderedFile]
    token: str | None = None


@dataclass
class Task:
    id: str
    provider: str
    model: str  # the catalog offer's model id
    mode: str  # the endpoint or generationType it came in through
    credential: str
    created_at: float
    ready_at: float
    outcome: Outcome
    frame: Frame
    params: dict[str, Any] = field(default_factory=dict)  # what the client sent, echoed back
    recipes: dict[str, Recipe] = field(default_factory=dict)  # what ``renders`` render, by role
    renders: dict[str, Future[RenderedFile]] = field(default_factory=dict)
    failure: tuple[int, str] | None = None  # decided at submit (an input that cannot be fetched)
    credits: float = 0.0  # charged at submit, refunded on failure (Kie)
    canceled: bool = False
    result: TaskResult | None = None
    upgrade: Upgrade | None = None


@dataclass(frozen=True)
class Grant:
    file: RenderedFile
    model: str
    expires_at: float


class TaskStore:
    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._grants: dict[str, Grant] = {}
        self._uploads: dict[str, tuple[Path, str, float]] = {}
        self._balances: dict[str, float] = {}
        self.upload_dir = state.storage_dir / "uploads"

    # -- tasks ----------------------------------------------------------------------------------------------
    def start(self, task: Task, *, extra: dict[str, Frame] | None = None) -> Task:
        """Register ``task`` and start its renders (none for an outcome that delivers no video)."""
        if task.failure is None and task.outcome.kind not in ("filtered", "failed"):
            for role, frame in {"main": task.frame, **(extra or {})}.items():
                task.recipes[role] = self._recipe(task, frame)
                task.renders[role] = self._state.renders.submit(task.recipes[role])
        with self._lock:
            self._tasks[task.id] = task
            self._state.persist.task(task)  # under the lock: a result written by a poll can never be overtaken
        return task

    def _recipe(self, task: Task, frame: Frame) -> Recipe:
        if task.outcome.kind == "large":
            o = task.outcome
            return LargeSpec(o.min_bytes, frame.width, frame.height, frame.seed, frame.duration_s, frame.audio)
        return RenderSpec(
            prompt=frame.prompt,
            width=frame.width,
            height=frame.height,
            duration_s=frame.duration_s,
            fps=24,
            audio=frame.audio,
            seed=frame.seed,
            first_frame=frame.first_frame,
            last_frame=frame.last_frame,
            label=f"{task.provider} {task.model}",
            extends=frame.extends,
            extends_sha256=frame.extends_sha256,
        )

    def get(self, task_id: str, provider: str) -> Task | None:
        with self._lock:
            task = self._tasks.get(task_id)
        return task if task is not None and task.provider == provider else None

    def all(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())

    def describe_all(self) -> list[dict[str, Any]]:
        """Every task with what its client sent (inputs other than media), for ``GET /_emulator/tasks``."""
        out = []
        for task in self.all():
            result = self.resolve(task)
            out.append(
                {
                    "id": task.id,
                    "provider": task.provider,
                    "model": task.model,
                    "mode": task.mode,
                    "state": result.state if result else self.phase(task),
                    "params": task.params,
                }
            )
        return out

    def phase(self, task: Task) -> Literal["queued", "running", "done"]:
        """fal's IN_QUEUE / Replicate's ``starting`` for the first quarter of the latency, then running."""
        if self.resolve(task) is not None:
            return "done"
        now = self._state.clock.now()
        return "queued" if now < task.created_at + (task.ready_at - task.created_at) / 4 else "running"

    def resolve(self, task: Task) -> TaskResult | None:
        with self._lock:
            if task.result is not None:
                return task.result
            now = self._state.clock.now()
            if task.canceled:
                task.result = TaskResult(now, "canceled", message="Task was canceled.")
            elif self._state.holds.keeps_running(task.id, task.model, task.frame.prompt) or now < task.ready_at:
                return None
            elif task.failure is not None:
                task.result = TaskResult(now, "failed", code=task.failure[0], message=task.failure[1])
            elif task.outcome.kind == "filtered":
                task.result = TaskResult(now, "filtered", code=400, message=task.outcome.reasons[0])
            elif task.outcome.kind == "failed":
                task.result = TaskResult(now, "failed", code=501, message=task.outcome.message)
            elif not all(f.done() for f in task.renders.values()):
                return None
            elif any(f.exception() is not None for f in task.renders.values()):
                task.result = TaskResult(now, "failed", code=500, message=INTERNAL_FAILURE)
            else:
                tokens = {role: self.grant(f.result(), task.model, now) for role, f in task.renders.items()}
                task.result = TaskResult(now, "succeeded", tokens=tokens)
            if task.result.state != "succeeded" and task.credits:
                self._balances[task.credential] = self.balance(task.credential) + task.credits
                task.credits = 0.0
                self._persist_balances()
            self._state.persist.task(task)
            return task.result

    def cancel(self, task: Task) -> bool:
        """True when the task was still running (and is now canceled)."""
        with self._lock:
            if self.resolve(task) is not None:
                return False
            task.canceled = True
            self.resolve(task)
            return True

    def request_upgrade(self, task: Task, frame: Frame) -> Upgrade:
        with self._lock:
            if task.upgrade is None:
                ready = self._state.clock.now() + self._state.draw_latency()
                recipe = self._recipe(task, frame)
                task.upgrade = Upgrade(ready, recipe, self._state.renders.submit(recipe))
                self._state.persist.task(task)
            return task.upgrade

    def upgrade_token(self, task: Task) -> str | None:
        """The 1080p URL token once ready, else None (still processing)."""
        with self._lock:
            up = task.upgrade
            if up is None:
                return None
            now = self._state.clock.now()
            if up.token is None and now >= up.ready_at and up.render.done() and up.render.exception() is None:
                up.token = self.grant(up.render.result(), task.model, now)
                self._state.persist.task(task)
            return up.token

    # -- temporary result URLs ------------------------------------------------------------------------------
    def grant(self, file: RenderedFile, model: str, done_at: float) -> str:
        token = secrets.token_urlsafe(18)
        grant = Grant(file, model, done_at + self._state.config.result_url_ttl_s)
        with self._lock:
            self._grants[token] = grant
        self._state.persist.grant(token, grant)
        return token

    def redeem(self, token: str) -> tuple[Grant | None, bool]:
        """(grant, expired) for a temporary URL token."""
        with self._lock:
            g = self._grants.get(token)
        if g is None:
            return None, False
        if self._state.clock.now() >= g.expires_at:
            return None, True
        return g, False

    # -- uploads (Kie's file API) ---------------------------------------------------------------------------
    def upload(self, data: bytes, name: str, mime: str) -> str:
        token = secrets.token_urlsafe(12)
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        path = self.upload_dir / token
        path.write_bytes(data)
        expires = self._state.clock.now() + UPLOAD_TTL_S
        with self._lock:
            self._uploads[token] = (path, mime, expires)
        self._state.persist.upload(token, path, mime, expires)
        return token

    def uploaded(self, token: str) -> tuple[Path, str] | None:
        with self._lock:
            found = self._uploads.get(token)
        if found is None or self._state.clock.now() >= found[2]:
            return None
        return found[0], found[1]

    # -- Kie credits ----------------------------------------------------------------------------------------
    def balance(self, credential: str) -> float:
        with self._lock:
            return self._balances.get(credential, self._state.config.kie_credits)

    def set_balance(self, credential: str, credits: float) -> None:
        with self._lock:
            self._balances[credential] = credits
            self._persist_balances()

    def charge(self, credential: str, credits: float) -> bool:
        """Take ``credits`` if the balance covers them; False (nothing taken) if not."""
        with self._lock:
            have = self.balance(credential)
            if have < credits:
                return False
            self._balances[credential] = have - credits
            self._persist_balances()
            return True

    def _persist_balances(self) -> None:
        self._state.persist.meta("balances", {"balances": dict(self._balances)})

    def restore(self) -> None:
        """Take back what a persisted emulator kept (see :mod:`veokit.emulator.persist`)."""
        persist = self._state.persist
        tasks = persist.tasks(self._state.renders.submit)
        grants = persist.grants()
        uploads = persist.uploads()
        balances = persist.meta_doc("balances").get("balances") or {}
        with self._lock:
            self._tasks.update({t.id: t for t in tasks})
            self._grants.update(dict(grants))
            self._uploads.update({token: (path, mime, expires) for token, path, mime, expires in uploads})
            self._balances.update({str(k): float(v) for k, v in balances.items()})

    def reset(self) -> None:
        with self._lock:
            self._tasks.clear()
            self._grants.clear()
            self._uploads.clear()
            self._balances.clear()
        shutil.rmtree(self.upload_dir, ignore_errors=True)
