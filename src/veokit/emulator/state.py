"""EmulatorState: everything a running emulator knows, shared by all routes and by tests.

Routes run on the server's event loop while tests poke ``emu.state`` from their own thread and renders
finish on pool threads, so every mutable table is guarded by one re-entrant lock. Nothing here blocks on
I/O while holding it, except the small journal writes of a persisted emulator (``EmulatorConfig.state_dir``,
see :mod:`veokit.emulator.persist`), which are made under the lock so records land in the order they changed.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from veokit.emulator.clock import Clock
from veokit.emulator.config import EmulatorConfig
from veokit.emulator.credentials import CredentialStore
from veokit.emulator.faults import FaultBook, parse_rule
from veokit.emulator.holds import Holds
from veokit.emulator.interactions import InteractionStore
from veokit.emulator.operations import (
    ContentGrant,
    DeliveredVideo,
    GcsObject,
    Operation,
    OperationResult,
    StoredFile,
)
from veokit.emulator.persist import JournalPersistence, Persistence
from veokit.emulator.render_pool import RenderedFile, RenderPool
from veokit.emulator.stats import Stats
from veokit.emulator.tasks import TaskStore
from veokit.models.catalog import Catalog, default_catalog

log = logging.getLogger("veokit.emulator")
_BASE36 = "abcdefghijklmnopqrstuvwxyz0123456789"
# The SDK extracts Gemini file ids with files/([a-z0-9]+), so ids must be lowercase alphanumerics.
FILE_URI_ID = re.compile(r"files/([a-z0-9]+)")


def new_short_id(n: int = 12) -> str:
    return "".join(secrets.choice(_BASE36) for _ in range(n))


class EmulatorState:
    def __init__(self, config: EmulatorConfig, catalog: Catalog | None = None) -> None:
        self.config = config
        self.catalog = catalog or default_catalog()
        self.clock = Clock()
        self.persist: Persistence = Persistence() if config.state_dir is None else JournalPersistence(config.state_dir)
        self.credentials = CredentialStore(self.clock, config.api_keys, config.bearer_tokens)
        self.stats_counters = Stats()
        self.faults = FaultBook(config.seed)
        self.faults.add([parse_rule(rule) for rule in config.faults])  # from `veokit emulator --fault …`
        self.holds = Holds()  # what tests keep running / parked until they release it
        # A persisted emulator keeps its renders (and uploads, inputs, certificate) beside its journal.
        kept = config.storage_dir or config.state_dir
        self._owns_dir = kept is None
        self.storage_dir = Path(tempfile.mkdtemp(prefix="veokit-emulator-")) if kept is None else kept
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.renders = RenderPool(self.storage_dir / "renders", workers=config.render_workers)
        self.inputs_dir = self.storage_dir / "inputs"
        self.tasks = TaskStore(self)  # Kie, fal and Replicate tasks, their temporary URLs and Kie credits
        self._lock = threading.RLock()
        self.interactions = InteractionStore(self, self._lock)  # Gemini Omni's Interactions API
        self._rng = random.Random(config.seed)
        self.operations: dict[str, Operation] = {}
        self.files: dict[str, StoredFile] = {}
        self.objects: dict[tuple[str, str], GcsObject] = {}
        self._grants: dict[str, ContentGrant] = {}
        self._generation = 0
        if self.persist.enabled:
            self._restore()
            self.credentials.on_issue = lambda: self.persist.meta("tokens", self.credentials.export())
            self.stats_counters.on_submit = lambda doc: self.persist.meta("stats", doc)
            self.persist.clock_offset = lambda: self.clock.offset_s

    def _restore(self) -> None:
        """Take back what a persisted emulator kept: clock first (deadlines are on it), then the records."""
        offset = float(self.persist.meta_doc("clock").get("offset_s", 0.0))
        if offset > self.clock.offset_s:
            self.clock.advance(offset - self.clock.offset_s)
        self.credentials.restore(self.persist.meta_doc("tokens"))
        self.stats_counters.restore(self.persist.meta_doc("stats"))
        # Finished work past its retention is never asked for again (its files have expired): a state dir that
        # is used every day (the quick-start emulator's) would otherwise grow by every video forever.
        horizon = self.clock.now() - self.config.retention_s
        files = self.persist.files()
        operations = self.persist.operations()
        stale_ops = [op for op in operations if op.result is not None and op.result.done_at < horizon]
        stale_files = [f for f in files if f.expires_at < horizon]
        if stale_ops or stale_files:
            removed = self.persist.forget(stale_ops, stale_files, self.storage_dir / "renders")
            log.info(
                "emulator state: dropped %d operation(s) and %d file(s) finished before the retention window "
                "(%d render(s) deleted)",
                len(stale_ops),
                len(stale_files),
                removed,
            )
        gone = {op.id for op in stale_ops} | {f.id for f in stale_files}
        self.files = {f.id: f for f in files if f.id not in gone}
        self.objects = {(o.bucket, o.name): o for o in self.persist.gcs_objects()}
        self._generation = max((o.generation for o in self.objects.values()), default=0)
        for op in operations:
            if op.id in gone:
                continue
            if op.result is None:  # still running when the emulator stopped: render it again (or find it cached)
                op.renders = [self.renders.submit(r) for r in op.recipes]
            op.watch_renders(self.clock.now)
            self.operations[op.id] = op
        self.tasks.restore()
        self.interactions.restore()
        if self.operations or self.tasks.all() or self.interactions.all():
            log.info(
                "emulator state: %d operation(s), %d task(s) and %d interaction(s) restored from %s",
                len(self.operations),
                len(self.tasks.all()),
                len(self.interactions.all()),
                self.config.state_dir,
            )

    # -- configuration at runtime -------------------------------------------------------------------
    def set_latency(
        self, latency_s: float | None = None, latency_range_s: tuple[float, float] | bool | None = False
    ) -> EmulatorConfig:
        """Change latency for operations submitted from now on (``latency_range_s=False``: keep it)."""
        changes: dict[str, Any] = {}
        if latency_s is not None:
            changes["latency_s"] = latency_s
        if latency_range_s is not False:
            changes["latency_range_s"] = latency_range_s
        with self._lock:
            self.config = replace(self.config, **changes)  # validates in __post_init__
            return self.config

    def draw_latency(self) -> float:
        with self._lock:
            rng = self.config.latency_range_s
            if rng is None:
                return self.config.latency_s
            return self._rng.uniform(*rng)

    # -- operations ---------------------------------------------------------------------------------
    def add_operation(self, op: Operation) -> None:
        with self._lock:
            self.operations[op.id] = op
            self.persist.operation(op)

    def operation(self, op_id: str) -> Operation | None:
        with self._lock:
            return self.operations.get(op_id)

    def resolve(self, op: Operation) -> OperationResult | None:
        """The operation's final result, fixed on first observation; None while it is running."""
        with self._lock:
            if op.result is not None:
                return op.result
            if self.holds.keeps_running(op.id, op.model, op.request.prompt):
                return None
            if self.clock.now() < op.ready_at:
                return None
            outcome = op.outcome
            blocked = outcome.blocked(op.request.sample_count)
            if blocked == op.request.sample_count:
                op.result = OperationResult(op.ready_at, filtered_reasons=outcome.reasons, filtered_count=blocked)
            elif outcome.kind == "failed":
                op.result = OperationResult(op.ready_at, error=(13, outcome.message))
            elif not all(f.done() for f in op.renders):
                return None
            else:
                op.result = self._deliver(op)
                if blocked:  # a partial result: the videos that passed, and the count and reasons of the rest
                    op.result = replace(op.result, filtered_count=blocked, filtered_reasons=outcome.reasons)
            self.persist.operation(op)
            return op.result

    def _deliver(self, op: Operation) -> OperationResult:
        done_at = max(op.ready_at, op.render_done_at or op.ready_at)
        files: list[RenderedFile] = []
        for fut in op.renders:
            exc = fut.exception()
            if exc is not None:
                log.error("render for %s failed: %r", op.name, exc)
                return OperationResult(done_at, error=(13, "Video generation failed due to an internal error."))
            files.append(fut.result())
        videos: list[DeliveredVideo] = []
        for i, rendered in enumerate(files):
            if op.protocol == "gemini":
                stored = self.store_file(rendered, op.model, done_at)
                videos.append(DeliveredVideo(rendered, file_id=stored.id))
            elif op.request.storage_uri is not None:
                bucket, _, prefix = op.request.storage_uri[len("gs://") :].partition("/")
                name = "/".join(p for p in (prefix.strip("/"), op.id, f"sample_{i}.mp4") if p)
                obj = self.store_object(bucket, name, rendered, op.model, done_at)
                videos.append(DeliveredVideo(rendered, gcs_uri=obj.uri))
            else:
                videos.append(DeliveredVideo(rendered))
        return OperationResult(done_at, videos=tuple(videos))

    def store_file(self, rendered: RenderedFile, model: str, done_at: float) -> StoredFile:
        """A generated video in the Gemini Files API, downloadable for the retention window."""
        with self._lock:
            stored = StoredFile(new_short_id(), rendered, model, done_at, done_at + self.config.retention_s)
            self.files[stored.id] = stored
            self.persist.file(stored)
            return stored

    def store_object(self, bucket: str, name: str, rendered: RenderedFile, model: str, done_at: float) -> GcsObject:
        """A generated video written to the caller's Cloud Storage bucket."""
        with self._lock:
            self._generation += 1
            obj = GcsObject(bucket, name, rendered, model, done_at, self._generation)
            self.objects[(bucket, name)] = obj
            self.persist.gcs_object(obj)
            return obj

    # -- Gemini files and Cloud Storage objects -----------------------------------------------------
    def file(self, file_id: str) -> StoredFile | None:
        """A live Gemini file; None once its retention has passed."""
        with self._lock:
            f = self.files.get(file_id)
            if f is None or self.clock.now() >= f.expires_at:
                return None
            return f

    def file_by_uri(self, uri: str) -> StoredFile | None:
        m = FILE_URI_ID.search(uri)
        return self.file(m.group(1)) if m else None

    def touch_file(self, f: StoredFile) -> None:
        """Referencing a video for extension restarts its retention window ([VEO])."""
        with self._lock:
            f.expires_at = self.clock.now() + self.config.retention_s
            self.persist.file(f)

    def gcs_object(self, bucket: str, name: str) -> GcsObject | None:
        with self._lock:
            return self.objects.get((bucket, name))

    def gcs_object_by_uri(self, uri: str) -> GcsObject | None:
        if not uri.startswith("gs://"):
            return None
        bucket, _, name = uri[len("gs://") :].partition("/")
        return self.gcs_object(bucket, name)

    def grant(self, f: StoredFile) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock.now()
            self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
            self._grants[token] = ContentGrant(f.id, now + self.config.signed_url_ttl_s)
        return token

    def redeem(self, token: str) -> tuple[StoredFile | None, bool]:
        """(file, expired) for a signed content token."""
        with self._lock:
            g = self._grants.get(token)
            if g is None:
                return None, False
            if self.clock.now() >= g.expires_at:
                return None, True
            return self.file(g.file_id), False

    # -- admin ----------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self._lock:
            n = len(self.operations)
        out = self.stats_counters.snapshot(operations=n)
        out["tokens_issued"] = self.credentials.issued_total
        out["renders_started"] = self.renders.renders_started
        return out

    def describe_operations(self) -> list[dict[str, Any]]:
        with self._lock:
            ops = list(self.operations.values())
        for op in ops:
            self.resolve(op)
        return [op.describe() for op in ops]

    def reset(self) -> None:
        """Forget operations, files, objects, faults, holds (releasing what they parked) and counters. Keeps
        the clock's time (running again if it was frozen), issued tokens (clients hold them and would not know
        to refresh) and the render cache (content-addressed)."""
        self.holds.reset()
        self.clock.resume()
        with self._lock:
            self.operations.clear()
            self.files.clear()
            self.objects.clear()
            self._grants.clear()
            self.faults.clear()
            self.stats_counters.reset()
            self.tasks.reset()
            self.interactions.reset()
            self.persist.clear()
            self.persist.meta("tokens", self.credentials.export())  # kept, as in memory

    def close(self) -> None:
        self.holds.release()
        self.persist.meta("clock", {"offset_s": self.clock.offset_s})
        self.renders.close()
        if self._owns_dir:
            shutil.rmtree(self.storage_dir, ignore_errors=True)
