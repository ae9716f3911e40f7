"""Persisted emulator state (``EmulatorConfig.state_dir``): accepted work survives a restart.

Without a state dir the emulator forgets everything when it stops, as a test double should. With one, every
operation, task and interaction it accepted (and what they produced), the Gemini files and Cloud Storage objects, the
temporary result URLs, Kie uploads and credit balances, issued OAuth tokens, the submit counters and the clock
offset are written as they change, so an emulator started again on the same directory answers the same
operation names with the same results. That lets a job started against an in-process emulator be finished after
an interrupt, and lets tests prove that finishing it submitted nothing new.

Layout under the state dir: ``journal/<kind>/<key>.json`` (one record per file, written atomically: a crash
leaves the previous version or the new one, never half), ``blobs/<sha256>`` (input images, written once), and the
emulator's storage (renders, inputs, uploads, TLS certificate) beside them. An operation still running when the
emulator stopped has its renders started again from its recipes; identical recipes render identical bytes, and a
render that had finished is found in the render cache. Not kept: scripted faults, quota windows and poll/download
counters since the last submit (a restart is not a test fixture reset; those belong to a running test).

The codecs here are the only place that knows the on-disk shape; ``FORMAT`` changes when it does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar, cast

from veokit.emulator.generation import GenerationRequest
from veokit.emulator.interactions import Billing, Interaction, InteractionResult
from veokit.emulator.media_inputs import MediaRef
from veokit.emulator.operations import DeliveredVideo, GcsObject, Operation, OperationResult, StoredFile
from veokit.emulator.outcome import Outcome
from veokit.emulator.render import RenderSpec
from veokit.emulator.render_pool import LargeSpec, Recipe, RenderedFile
from veokit.emulator.tasks import Frame, Grant, Task, TaskResult, Upgrade

log = logging.getLogger("veokit.emulator")
FORMAT = 1
T = TypeVar("T")


class Journal:
    """One JSON document per record, replaced atomically; read back whole at start."""

    def __init__(self, directory: Path) -> None:
        self.root = directory / "journal"
        self.blobs = directory / "blobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        marker = self.root / "format.json"
        if not marker.exists():
            _atomic_write(marker, json.dumps({"format": FORMAT}).encode())
        elif json.loads(marker.read_text()).get("format") != FORMAT:
            raise ValueError(f"{directory}: emulator state written by another version (format != {FORMAT})")

    def put(self, kind: str, key: str, doc: dict[str, Any]) -> None:
        path = self.root / kind / f"{_safe(key)}.json"
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, data)

    def load(self, kind: str) -> list[dict[str, Any]]:
        folder = self.root / kind
        if not folder.is_dir():
            return []
        docs: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.json")):
            try:
                doc = json.loads(path.read_bytes())
            except (OSError, ValueError) as exc:  # a record from a crash mid-rename cannot exist; a hand edit can
                log.warning("emulator state: skipping unreadable %s (%s)", path, exc)
                continue
            if isinstance(doc, dict):
                docs.append(doc)
        return docs

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        path = self.root / kind / f"{_safe(key)}.json"
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        return doc if isinstance(doc, dict) else None

    def delete(self, kind: str, key: str) -> None:
        (self.root / kind / f"{_safe(key)}.json").unlink(missing_ok=True)

    def mentions(self) -> str:
        """Every record's text, to ask whether any still names a file (a render shared by records)."""
        return "\n".join(p.read_text(errors="replace") for p in self.root.glob("*/*.json"))

    def clear(self) -> None:
        """Forget every record (the admin reset); blobs are content-addressed and stay."""
        with self._lock:
            for child in self.root.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)

    # -- blobs (input images) -------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.blobs / digest
        if not path.is_file():
            _atomic_write(path, data)
        return digest

    def blob(self, digest: str) -> bytes:
        return (self.blobs / _safe(digest)).read_bytes()


def _safe(key: str) -> str:
    """A record key as a file name: keys are ids and tokens we made, but never trust them with a path."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key) or "_"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- codecs -------------------------------------------------------------------------------------------------------
def file_doc(f: RenderedFile) -> dict[str, Any]:
    return {"path": str(f.path), "size": f.size, "md5_b64": f.md5_b64, "sha256_b64": f.sha256_b64}


def file_from(doc: dict[str, Any]) -> RenderedFile:
    return RenderedFile(Path(doc["path"]), int(doc["size"]), str(doc["md5_b64"]), str(doc["sha256_b64"]))


def outcome_doc(o: Outcome) -> dict[str, Any]:
    return {**asdict(o), "reasons": list(o.reasons)}


def outcome_from(doc: dict[str, Any]) -> Outcome:
    return Outcome(
        doc["kind"],
        min_bytes=int(doc.get("min_bytes", 0)),
        reasons=tuple(doc.get("reasons", ())),
        message=str(doc.get("message", "")),
        filtered=doc.get("filtered"),
    )


def recipe_doc(journal: Journal, r: Recipe) -> dict[str, Any]:
    if isinstance(r, LargeSpec):
        return {"large": asdict(r)}
    spec: dict[str, Any] = {}
    for f in fields(r):
        value = getattr(r, f.name)
        spec[f.name] = {"blob": journal.put_blob(value)} if isinstance(value, bytes) else value
    return {"spec": spec}


def recipe_from(journal: Journal, doc: dict[str, Any]) -> Recipe:
    if "large" in doc:
        return LargeSpec(**doc["large"])
    spec: dict[str, Any] = {k: journal.blob(v["blob"]) if isinstance(v, dict) else v for k, v in doc["spec"].items()}
    return RenderSpec(**spec)


def optional_bytes(journal: Journal, data: bytes | None) -> str | None:
    return journal.put_blob(data) if data is not None else None


def bytes_from(journal: Journal, digest: str | None) -> bytes | None:
    return journal.blob(digest) if digest else None


def _media(ref: MediaRef | None) -> dict[str, Any] | None:
    # Operations keep requests without inline payloads (see submit._without_payloads): only the URI remains.
    return None if ref is None else {"uri": ref.uri, "mime_type": ref.mime_type}


def _media_from(doc: dict[str, Any] | None) -> MediaRef | None:
    return None if doc is None else MediaRef(uri=doc.get("uri"), mime_type=doc.get("mime_type"))


def request_doc(req: GenerationRequest) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for f in fields(req):
        value = getattr(req, f.name)
        if isinstance(value, MediaRef) or (value is None and f.name in ("image", "last_frame", "video")):
            doc[f.name] = _media(value)
        elif f.name == "reference_images":
            doc[f.name] = [_media(r) for r in value]
        elif isinstance(value, Outcome):
            doc[f.name] = outcome_doc(value)
        else:
            doc[f.name] = value
    return doc


def request_from(doc: dict[str, Any]) -> GenerationRequest:
    values = dict(doc)
    for name in ("image", "last_frame", "video"):
        values[name] = _media_from(values.get(name))
    values["reference_images"] = tuple(_media_from(r) for r in values.get("reference_images") or ())
    values["outcome"] = outcome_from(values["outcome"])
    return GenerationRequest(**values)


def result_doc(r: OperationResult) -> dict[str, Any]:
    return {
        "done_at": r.done_at,
        "videos": [{"file": file_doc(v.file), "file_id": v.file_id, "gcs_uri": v.gcs_uri} for v in r.videos],
        "filtered_reasons": list(r.filtered_reasons),
        "filtered_count": r.filtered_count,
        "error": list(r.error) if r.error is not None else None,
    }


def result_from(doc: dict[str, Any]) -> OperationResult:
    error = doc.get("error")
    return OperationResult(
        done_at=float(doc["done_at"]),
        videos=tuple(
            DeliveredVideo(file_from(v["file"]), file_id=v.get("file_id"), gcs_uri=v.get("gcs_uri"))
            for v in doc.get("videos", [])
        ),
        filtered_reasons=tuple(doc.get("filtered_reasons", ())),
        filtered_count=int(doc.get("filtered_count", 0)),
        error=(int(error[0]), str(error[1])) if error else None,
    )


def operation_doc(journal: Journal, op: Operation) -> dict[str, Any]:
    return {
        "id": op.id,
        "name": op.name,
        "protocol": op.protocol,
        "model": op.model,
        "credential": op.credential,
        "created_at": op.created_at,
        "ready_at": op.ready_at,
        "request": request_doc(op.request),
        "outcome": outcome_doc(op.outcome),
        "recipes": [recipe_doc(journal, r) for r in op.recipes],
        "result": result_doc(op.result) if op.result is not None else None,
    }


def operation_from(journal: Journal, doc: dict[str, Any]) -> Operation:
    return Operation(
        id=doc["id"],
        name=doc["name"],
        protocol=doc["protocol"],
        model=doc["model"],
        credential=doc["credential"],
        created_at=float(doc["created_at"]),
        ready_at=float(doc["ready_at"]),
        request=request_from(doc["request"]),
        outcome=outcome_from(doc["outcome"]),
        recipes=[recipe_from(journal, r) for r in doc.get("recipes", [])],
        result=result_from(doc["result"]) if doc.get("result") else None,
    )


def stored_file_doc(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "file": file_doc(f.file),
        "model": f.model,
        "created_at": f.created_at,
        "expires_at": f.expires_at,
    }


def stored_file_from(doc: dict[str, Any]) -> StoredFile:
    return StoredFile(
        doc["id"], file_from(doc["file"]), doc["model"], float(doc["created_at"]), float(doc["expires_at"])
    )


def gcs_object_doc(o: GcsObject) -> dict[str, Any]:
    return {
        "bucket": o.bucket,
        "name": o.name,
        "file": file_doc(o.file),
        "model": o.model,
        "created_at": o.created_at,
        "generation": o.generation,
        "content_type": o.content_type,
    }


def gcs_object_from(doc: dict[str, Any]) -> GcsObject:
    return GcsObject(
        doc["bucket"],
        doc["name"],
        file_from(doc["file"]),
        doc["model"],
        float(doc["created_at"]),
        int(doc["generation"]),
        doc.get("content_type", "video/mp4"),
    )


def load_all(journal: Journal, kind: str, decode: Callable[[dict[str, Any]], T]) -> list[T]:
    """Decode every record of ``kind``; a record that does not decode is skipped with a warning, not fatal."""
    out: list[T] = []
    for doc in journal.load(kind):
        try:
            out.append(decode(doc))
        except (KeyError, TypeError, ValueError, OSError) as exc:
            log.warning("emulator state: skipping a %s record that does not decode (%r)", kind, exc)
    return out


def as_dict(value: object) -> dict[str, Any]:
    return cast(dict[str, Any], value) if isinstance(value, dict) else {}


# -- task-based resellers (Kie, fal, Replicate) ---------------------------------------------------------------
def frame_doc(journal: Journal, f: Frame) -> dict[str, Any]:
    doc = asdict(f)
    doc["first_frame"] = optional_bytes(journal, f.first_frame)
    doc["last_frame"] = optional_bytes(journal, f.last_frame)
    return doc


def frame_from(journal: Journal, doc: dict[str, Any]) -> Frame:
    values = dict(doc)
    values["first_frame"] = bytes_from(journal, values.get("first_frame"))
    values["last_frame"] = bytes_from(journal, values.get("last_frame"))
    return Frame(**values)


def task_doc(journal: Journal, t: Task) -> dict[str, Any]:
    result = t.result
    upgrade = t.upgrade
    return {
        "id": t.id,
        "provider": t.provider,
        "model": t.model,
        "mode": t.mode,
        "credential": t.credential,
        "created_at": t.created_at,
        "ready_at": t.ready_at,
        "outcome": outcome_doc(t.outcome),
        "frame": frame_doc(journal, t.frame),
        "params": t.params,
        "recipes": {role: recipe_doc(journal, r) for role, r in t.recipes.items()},
        "failure": list(t.failure) if t.failure else None,
        "credits": t.credits,
        "canceled": t.canceled,
        "result": None
        if result is None
        else {
            "done_at": result.done_at,
            "state": result.state,
            "tokens": result.tokens,
            "message": result.message,
            "code": result.code,
        },
        "upgrade": None
        if upgrade is None
        else {"ready_at": upgrade.ready_at, "recipe": recipe_doc(journal, upgrade.recipe), "token": upgrade.token},
    }


def task_from(journal: Journal, doc: dict[str, Any], submit: Callable[[Recipe], Future[RenderedFile]]) -> Task:
    """A task as it was; renders a result still needs are started again through ``submit``."""
    result = doc.get("result")
    failure = doc.get("failure")
    recipes = {role: recipe_from(journal, r) for role, r in as_dict(doc.get("recipes")).items()}
    task = Task(
        id=doc["id"],
        provider=doc["provider"],
        model=doc["model"],
        mode=doc["mode"],
        credential=doc["credential"],
        created_at=float(doc["created_at"]),
        ready_at=float(doc["ready_at"]),
        outcome=outcome_from(doc["outcome"]),
        frame=frame_from(journal, doc["frame"]),
        params=as_dict(doc.get("params")),
        recipes=recipes,
        failure=(int(failure[0]), str(failure[1])) if failure else None,
        credits=float(doc.get("credits", 0.0)),
        canceled=bool(doc.get("canceled", False)),
        result=None
        if not result
        else TaskResult(
            float(result["done_at"]),
            result["state"],
            tokens=dict(result.get("tokens") or {}),
            message=str(result.get("message", "")),
            code=result.get("code"),
        ),
    )
    # Finished tasks still read their main render (Kie's extend and fal's file_size), so every render is
    # started again; a render that finished before the restart is found in the render cache.
    task.renders = {role: submit(r) for role, r in recipes.items()}
    up = doc.get("upgrade")
    if up:
        recipe = recipe_from(journal, up["recipe"])
        task.upgrade = Upgrade(float(up["ready_at"]), recipe, submit(recipe), token=up.get("token"))
    return task


def grant_doc(token: str, g: Grant) -> dict[str, Any]:
    return {"token": token, "file": file_doc(g.file), "model": g.model, "expires_at": g.expires_at}


def grant_from(doc: dict[str, Any]) -> tuple[str, Grant]:
    return doc["token"], Grant(file_from(doc["file"]), doc["model"], float(doc["expires_at"]))


def interaction_doc(journal: Journal, i: Interaction) -> dict[str, Any]:
    result = i.result
    video = result.video if result is not None else None
    return {
        "id": i.id,
        "host": i.host,
        "collection": i.collection,
        "model": i.model,
        "credential": i.credential,
        "created_at": i.created_at,
        "ready_at": i.ready_at,
        "outcome": outcome_doc(i.outcome),
        "delivery": i.delivery,
        "gcs_uri": i.gcs_uri,
        "duration_s": i.duration_s,
        "billing": asdict(i.billing),
        "echo": i.echo,
        "prompt": i.prompt,
        "recipe": recipe_doc(journal, i.recipe) if i.recipe is not None else None,
        "canceled": i.canceled,
        "result": None
        if result is None
        else {
            "done_at": result.done_at,
            "state": result.state,
            "video": None
            if video is None
            else {"file": file_doc(video.file), "file_id": video.file_id, "gcs_uri": video.gcs_uri},
            "error": list(result.error) if result.error else None,
            "billed": result.billed,
        },
    }


def interaction_from(journal: Journal, doc: dict[str, Any]) -> Interaction:
    """An interaction as it was, without its render (the store starts it again when it is still needed)."""
    result = doc.get("result")
    video = result.get("video") if result else None
    error = result.get("error") if result else None
    return Interaction(
        id=doc["id"],
        host=doc["host"],
        collection=doc["collection"],
        model=doc["model"],
        credential=doc["credential"],
        created_at=float(doc["created_at"]),
        ready_at=float(doc["ready_at"]),
        outcome=outcome_from(doc["outcome"]),
        delivery=doc["delivery"],
        gcs_uri=doc.get("gcs_uri"),
        duration_s=float(doc["duration_s"]),
        billing=Billing(**doc["billing"]),
        echo=as_dict(doc.get("echo")),
        prompt=str(doc.get("prompt", "")),
        recipe=recipe_from(journal, doc["recipe"]) if doc.get("recipe") else None,
        canceled=bool(doc.get("canceled", False)),
        result=None
        if not result
        else InteractionResult(
            float(result["done_at"]),
            result["state"],
            video=None
            if not video
            else DeliveredVideo(file_from(video["file"]), file_id=video.get("file_id"), gcs_uri=video.get("gcs_uri")),
            error=(str(error[0]), str(error[1])) if error else None,
            billed=bool(result.get("billed", False)),
        ),
    )


class Persistence:
    """What the emulator's state calls when something worth keeping changes. This base keeps nothing (an
    emulator without ``state_dir`` forgets everything when it stops); :class:`JournalPersistence` keeps it."""

    enabled = False
    clock_offset: Callable[[], float] | None = None  # the emulator clock's offset, kept with each record

    def operation(self, op: Operation) -> None:
        pass

    def file(self, f: StoredFile) -> None:
        pass

    def gcs_object(self, o: GcsObject) -> None:
        pass

    def task(self, t: Task) -> None:
        pass

    def interaction(self, i: Interaction) -> None:
        pass

    def grant(self, token: str, g: Grant) -> None:
        pass

    def upload(self, token: str, path: Path, mime: str, expires_at: float) -> None:
        pass

    def meta(self, key: str, doc: dict[str, Any]) -> None:
        """Small whole documents: ``balances``, ``stats``, ``tokens``, ``clock``."""

    def clear(self) -> None:
        pass

    def forget(self, operations: list[Operation], files: list[StoredFile], renders: Path) -> int:
        """Drop these records and the renders under ``renders`` that no remaining record names; files removed."""
        return 0

    def meta_doc(self, key: str) -> dict[str, Any]:
        return {}

    def operations(self) -> list[Operation]:
        return []

    def files(self) -> list[StoredFile]:
        return []

    def gcs_objects(self) -> list[GcsObject]:
        return []

    def tasks(self, submit: Callable[[Recipe], Future[RenderedFile]]) -> list[Task]:
        return []

    def interactions(self) -> list[Interaction]:
        return []

    def grants(self) -> list[tuple[str, Grant]]:
        return []

    def uploads(self) -> list[tuple[str, Path, str, float]]:
        return []


class JournalPersistence(Persistence):
    enabled = True

    def __init__(self, directory: Path) -> None:
        self.journal = Journal(directory)

    def operation(self, op: Operation) -> None:
        self.journal.put("operations", op.id, operation_doc(self.journal, op))
        self._keep_clock()

    def file(self, f: StoredFile) -> None:
        self.journal.put("files", f.id, stored_file_doc(f))

    def gcs_object(self, o: GcsObject) -> None:
        # Object names hold slashes and any character: the record is named by a hash of bucket/name.
        self.journal.put("objects", hashlib.sha256(o.uri.encode()).hexdigest(), gcs_object_doc(o))

    def task(self, t: Task) -> None:
        self.journal.put("tasks", t.id, task_doc(self.journal, t))
        self._keep_clock()

    def interaction(self, i: Interaction) -> None:
        self.journal.put("interactions", i.id, interaction_doc(self.journal, i))
        self._keep_clock()

    def _keep_clock(self) -> None:
        # Deadlines (ready, expiry) are on the emulator clock: an advanced clock must survive with them.
        if self.clock_offset is not None:
            self.journal.put("meta", "clock", {"offset_s": self.clock_offset()})

    def grant(self, token: str, g: Grant) -> None:
        self.journal.put("grants", token, grant_doc(token, g))

    def upload(self, token: str, path: Path, mime: str, expires_at: float) -> None:
        self.journal.put("uploads", token, {"token": token, "path": str(path), "mime": mime, "expires_at": expires_at})

    def meta(self, key: str, doc: dict[str, Any]) -> None:
        self.journal.put("meta", key, doc)

    def clear(self) -> None:
        self.journal.clear()

    def forget(self, operations: list[Operation], files: list[StoredFile], renders: Path) -> int:
        for op in operations:
            self.journal.delete("operations", op.id)
        for f in files:
            self.journal.delete("files", f.id)
        paths = {v.file.path for op in operations if op.result for v in op.result.videos} | {f.file.path for f in files}
        named = self.journal.mentions()
        removed = 0
        for path in paths:
            if path.is_relative_to(renders) and str(path) not in named:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def meta_doc(self, key: str) -> dict[str, Any]:
        return self.journal.get("meta", key) or {}

    def operations(self) -> list[Operation]:
        return load_all(self.journal, "operations", lambda d: operation_from(self.journal, d))

    def files(self) -> list[StoredFile]:
        return load_all(self.journal, "files", stored_file_from)

    def gcs_objects(self) -> list[GcsObject]:
        return load_all(self.journal, "objects", gcs_object_from)

    def tasks(self, submit: Callable[[Recipe], Future[RenderedFile]]) -> list[Task]:
        return load_all(self.journal, "tasks", lambda d: task_from(self.journal, d, submit))

    def interactions(self) -> list[Interaction]:
        return load_all(self.journal, "interactions", lambda d: interaction_from(self.journal, d))

    def grants(self) -> list[tuple[str, Grant]]:
        return load_all(self.journal, "grants", grant_from)

    def uploads(self) -> list[tuple[str, Path, str, float]]:
        return load_all(
            self.journal, "uploads", lambda d: (d["token"], Path(d["path"]), str(d["mime"]), float(d["expires_at"]))
        )
