"""Batch files: many generation requests, one per line (JSON Lines) or row (CSV), enqueued idempotently.

Each line is an object whose keys are :class:`GenerateRequest` fields or the CLI's option names::

    {"prompt": "a red fox in snow", "seed": 7, "duration": 4, "image": "fox.png"}
    prompt,aspect,duration,seed,ref
    "a lighthouse at dusk",9:16,6,,a.png;b.png

plus ``provider``, ``out`` (a directory) and ``client_key``. A provider's own options go in an ``options``
object (``{"prompt": "a fox", "provider": "kie", "options": {"watermark": "ACME"}}``) or, in CSV, one
``option.NAME`` column each (``prompt,provider,option.watermark``); they are checked against the line's
provider like every other field. Paths are relative to the batch file. Blank lines
and JSONL lines starting with ``#`` are skipped. Every line gets a stable client key — the file's SHA-256
and the line number, unless it names its own — so enqueueing the same file again (after an interruption,
or just to watch it) creates nothing twice. Editing the file changes its hash: the edited file is a new batch.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gc
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veokit.errors import BudgetExceeded, InvalidRequest, VeokitError, from_record
from veokit.models.job import Job, JobState
from veokit.models.request import GenerateRequest, ImageInput

if TYPE_CHECKING:
    from veokit.service import extension

# Accepted spellings → GenerateRequest field (or a batch-level key).
ALIASES: dict[str, str] = {
    "aspect": "aspect_ratio",
    "duration": "duration_seconds",
    "negative": "negative_prompt",
    "samples": "sample_count",
    "audio": "generate_audio",
    "ref": "reference_images",
    "refs": "reference_images",
    "extend": "video",
    "out_dir": "out",
    "last-frame": "last_frame",
}
BATCH_KEYS = frozenset({"provider", "out", "client_key", "no_audio"})
OPTION_PREFIXES = ("option", "options")  # option.NAME: one provider option per column (CSV) or key
_FIELDS = frozenset(GenerateRequest.model_fields)
_INTS = ("duration_seconds", "seed", "sample_count")
_BOOLS = ("generate_audio", "enhance_prompt", "no_audio")


@dataclass(frozen=True)
class BatchItem:
    line: int
    request: GenerateRequest
    client_key: str
    provider: str | None = None
    out_dir: Path | None = None
    extending: extension.ExtensionSource | None = None  # what ``request.video`` is, for the plan's length check


MULTILINE_COLUMNS = frozenset({"prompt", "negative_prompt"})  # text that may hold a line break


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (one pass, as usual, after). Reading and recording a 10,000-line
    batch allocates millions of objects that outlive it and hold no cycles: the collector's passes over them,
    and over every module's objects, were 15% of the work. Nested or concurrent pauses end with the outermost."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def read_batch(path: Path) -> list[BatchItem]:
    """Parse and check every line (files must exist, values must parse); :class:`InvalidRequest` names every
    bad line (:func:`bad_lines`; a file that is not JSON Lines or CSV at all, its first). Catalog checks (model,
    durations…) happen when the caller resolves each request."""
    with gc_paused():
        return _read_batch(path)


def _read_batch(path: Path) -> list[BatchItem]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"batch: cannot read {path}: {exc.strerror or exc}", field="file") from None
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest(f"batch: {path} is not UTF-8 text", field="file") from None
    kind = path.suffix.lower()
    if kind not in (".jsonl", ".ndjson", ".csv"):
        raise InvalidRequest(f"batch: {path.name}: use a .jsonl or .csv file", field="file", allowed=[".jsonl", ".csv"])
    rows = _csv_rows(text, path) if kind == ".csv" else _jsonl_rows(text, path)
    items = []
    bad: list[tuple[int, VeokitError]] = []
    for line, row in rows:
        try:
            items.append(_item(row, line, base=path.parent, default_key=f"batch:{digest}:{line}"))
        except VeokitError as exc:
            bad.append((line, exc))
    if bad:
        raise bad_lines(path.name, bad)
    if not items:
        raise InvalidRequest(f"batch: {path.name} has no requests", field="file")
    return items


SHOWN_BAD_LINES = 20  # a file with thousands of bad lines is usually one mistake repeated: show a screenful


def bad_lines(name: str, bad: list[tuple[int, VeokitError]]) -> InvalidRequest:
    """Every bad line of a batch as one error (the first one's field), so that one run lists all there is to fix:
    ``name:LINE: why`` alone, or a count and one such line each (the first :data:`SHOWN_BAD_LINES`)."""
    (line, first), *_ = bad
    field = getattr(first, "field", None)
    if len(bad) == 1:
        return InvalidRequest(f"{name}:{line}: {first.message}", field=field)
    shown = "\n".join(f"  {name}:{n}: {exc.message}" for n, exc in bad[:SHOWN_BAD_LINES])
    more = f"\n  … and {len(bad) - SHOWN_BAD_LINES} more" if len(bad) > SHOWN_BAD_LINES else ""
    return InvalidRequest(f"{name}: {len(bad)} bad lines, nothing was enqueued:\n{shown}{more}", field=field)


def _jsonl_rows(text: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            row = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{path.name}:{n}: not valid JSON ({exc.msg})", field="file") from None
        if not isinstance(row, dict):
            raise InvalidRequest(f"{path.name}:{n}: each line must be a JSON object", field="file")
        rows.append((n, row))
    return rows


def _csv_rows(text: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    # strict: an unclosed or stray quote is an error, not a cell that silently swallows the rows after it
    # (which would become one paid job with a garbled prompt).
    reader = csv.DictReader(io.StringIO(text), strict=True)
    rows = []
    start = 1
    try:
        if not reader.fieldnames or "prompt" not in [f.strip().lower() for f in reader.fieldnames]:
            raise InvalidRequest(
                f"{path.name}: the first row must be a header naming at least a prompt column", field="file"
            )
        start = reader.line_num + 1
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload,unused-ignore]  # DictReader's overflow key
            if extra:
                raise InvalidRequest(f"{path.name}:{reader.line_num}: more cells than header columns", field="file")
            cells = {_column(k): v.strip() for k, v in row.items() if k and v is not None and v.strip()}
            spans = [k for k, v in cells.items() if "\n" in v and k not in MULTILINE_COLUMNS]
            if spans:
                raise InvalidRequest(
                    f"{path.name}:{start}: the {spans[0]} cell runs over several lines; is a quote left open?",
                    field="file",
                )
            if cells:
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidRequest(
            f"{path.name}:{start}: not valid CSV ({exc}); is a quote left open?", field="file"
        ) from None
    return rows


def _column(header: str) -> str:
    """A CSV header as a key: request fields fold case; an option keeps its name (``option.enableTranslation``)."""
    name = header.strip()
    prefix, dot, option = name.partition(".")
    if dot and prefix.lower() in OPTION_PREFIXES:
        return f"{OPTION_PREFIXES[0]}.{option.strip()}"
    return name.lower()


def _item(row: dict[str, Any], line: int, *, base: Path, default_key: str) -> BatchItem:
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in row.items():
        kind, name = _key(str(key))
        if kind == "option":
            if not name or name in options:
                raise InvalidRequest(f"option column {key!r}: name it once, as option.NAME", field=str(key))
            options[name] = value
        elif kind == "batch":
            extra[name] = value
        elif kind == "field":
            fields[name] = value
        else:
            raise InvalidRequest(
                f"unknown field {key!r} (request fields: {', '.join(sorted(_FIELDS))}; "
                f"also {', '.join(sorted(BATCH_KEYS))})",
                field=str(key),
            )
    for name in _INTS:
        if isinstance(fields.get(name), str):
            fields[name] = _int(name, fields[name])
    for name in _BOOLS:
        target = fields if name in fields else extra
        if isinstance(target.get(name), str):
            target[name] = _bool(name, target[name])
    if extra.get("no_audio"):
        fields["generate_audio"] = False
    if options:
        given = fields.get("options") or {}
        if not isinstance(given, dict):
            raise InvalidRequest("options: must be an object of NAME: VALUE", field="options")
        twice = sorted(set(given) & set(options))
        if twice:
            raise InvalidRequest(f"options.{twice[0]}: given twice", field=f"options.{twice[0]}")
        fields["options"] = {**given, **options}
    extending = _load_media(fields, base)
    request = GenerateRequest.build(**fields)
    out = extra.get("out")
    provider = extra.get("provider")
    own_key = extra.get("client_key")
    return BatchItem(
        line=line,
        request=request,
        client_key=str(own_key) if own_key else default_key,
        provider=str(provider) if provider else None,
        out_dir=(base / str(out)) if out else None,
        extending=extending,
    )


@functools.lru_cache(maxsize=1024)
def _key(key: str) -> tuple[str, str]:
    """What a line's key names: ``("option", NAME)``, ``("batch", key)``, ``("field", field)`` or
    ``("unknown", key)``. Every line of a file has the same few keys: each is worked out once."""
    prefix, dot, option = key.strip().partition(".")
    if dot and prefix.lower() in OPTION_PREFIXES:
        return "option", option.strip()
    spelled = key.strip().lower().replace("-", "_")
    name = ALIASES.get(spelled, spelled)
    if name in BATCH_KEYS:
        return "batch", name
    return ("field", name) if name in _FIELDS else ("unknown", key)


def _load_media(fields: dict[str, Any], base: Path) -> extension.ExtensionSource | None:
    for name in ("image", "last_frame"):
        if isinstance(fields.get(name), str):
            fields[name] = ImageInput.from_path(base / fields[name], field=name)
    refs = fields.get("reference_images")
    if isinstance(refs, str):
        refs = [r.strip() for r in refs.split(";") if r.strip()]
    if isinstance(refs, list):
        fields["reference_images"] = tuple(
            ImageInput.from_path(base / r, field="reference_images") if isinstance(r, str) else r for r in refs
        )
    video = fields.get("video")
    if not isinstance(video, str):
        return None
    # The extension rules: a local MP4 is probed here, before anything is enqueued. (Imported here: they need the
    # engine and the MP4 prober, which a batch status or `veokit --help` does not.)
    from veokit.service import extension

    source = extension.from_uri(video) if "://" in video else extension.from_file(base / video)
    fields["video"] = source.video
    return source


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"{name}: {value!r} is not a whole number", field=name) from None


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidRequest(f"{name}: {value!r} is not true or false", field=name)


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch's jobs stand, from one read of the store."""

    total: int
    counts: dict[str, int]
    spent_usd: float  # what the finished jobs cost
    pending_usd: float  # estimates of the jobs not finished yet
    blocked: int  # queued, held back by a budget cap

    @property
    def finished(self) -> int:
        return sum(n for state, n in self.counts.items() if not JobState(state).active)

    @property
    def done(self) -> bool:
        return self.finished == self.total

    @property
    def stuck(self) -> bool:
        """Every unfinished job was held back by a budget cap since we started watching, and none is in flight
        to free budget: only a higher cap or a new UTC day will move them."""
        return self.blocked > 0 and self.finished + self.blocked == self.total

    @property
    def unclaimed(self) -> int:
        """Queued jobs no budget cap holds back: waiting only for a worker to claim them."""
        return max(0, self.counts.get(JobState.QUEUED.value, 0) - self.blocked)

    def describe(self) -> str:
        parts = [f"{n} {state}" for state, n in sorted(self.counts.items())]
        blocked = f" ({self.blocked} held back by the budget)" if self.blocked else ""
        return (
            f"{self.finished}/{self.total} finished · {', '.join(parts)}{blocked} · "
            f"spent ${self.spent_usd:.2f}, ${self.pending_usd:.2f} more estimated"
        )


def budget_blocked(job: Job, since: dt.datetime | None = None) -> bool:
    """Queued and held back by a budget cap; with ``since``, only if a worker found it so after that time
    (it released the job then: a claim in progress sets an owner, a release clears it)."""
    if job.state is not JobState.QUEUED or not isinstance(from_record(job.error), BudgetExceeded):
        return False
    return since is None or (job.lease_owner is None and job.updated_at >= since)


def summarise(jobs: list[Job], *, since: dt.datetime | None = None) -> BatchStatus:
    counts = Counter(j.state.value for j in jobs)
    spent = sum(j.cost_usd or 0.0 for j in jobs if not j.state.active)
    pending = sum(j.estimate_usd for j in jobs if j.state.active)
    return BatchStatus(
        len(jobs), dict(counts), round(spent, 4), round(pending, 4), sum(budget_blocked(j, since) for j in jobs)
    )
