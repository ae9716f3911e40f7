"""How the CLI shows things: tables, the live progress display, job summaries. No logic lives here."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pydantic_core
from rich.console import Console, RenderableType
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.text import Text

from veokit.cli import tables
from veokit.cli.tables import Column
from veokit.models.catalog import Catalog, Estimate
from veokit.models.job import Job, JobEvent
from veokit.service.providers import catalog_key, real_money

if TYPE_CHECKING:
    from veokit.service import Progress as JobProgress


@dataclass
class Mode:
    """How chatty this command is: ``--quiet`` (results only: ids, paths) or ``--verbose`` (library logs too)."""

    quiet: bool = False
    verbose: bool = False
    json: bool = False  # this command prints JSON: errors too go to stdout as {"error": ...}
    json_printed: bool = False  # stdout already holds this command's one JSON document


mode = Mode()
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def models_table(catalog: Catalog, provider: str | None, today: dt.date) -> None:
    """The catalog, one row per offer; at 80 columns the model id, its status and its prices stay."""
    columns = [
        Column("provider", drop=3),
        Column("model"),
        Column("status", shrink=10),
        Column("USD/s 720p·1080p·4k", drop=2, shrink=12),
        Column("seconds", drop=4),
        Column("resolutions", drop=5),
        Column("aspect", drop=6),
        Column("audio", drop=7),
        Column("features", drop=9, shrink=10),
        Column("videos/req", drop=8),
    ]
    rows = []
    for o in catalog.offers:
        if provider and o.provider != provider:
            continue
        lc = o.lifecycle
        status = lc.label(today)
        if lc.is_retired(today) and lc.replacement:
            status += f" → {lc.replacement}"
        prices = " · ".join(
            (f"{o.price[r].audio:.2f}/{o.price[r].silent:.2f}" if r in o.price else "—")
            for r in ("720p", "1080p", "4k")
        )
        rows.append(
            [
                o.provider,
                o.model,
                status,
                prices,
                _seconds(o.durations),
                ",".join(o.resolutions),
                ",".join(o.aspect_ratios),
                o.audio,
                ", ".join(f.replace("_to_video", "") for f in o.features),
                f"{o.sample_count[0]}–{o.sample_count[1]}",
            ]
        )
    tables.render(out, columns, rows, title="Video models (veokit catalog)")


class _Clocked(ProgressColumn):
    """The bar and the time left, advancing between polls from the last report (the engine reports only when
    it polls, which may be a minute apart: a display fed only by reports would stand still)."""

    def __init__(self, part: str) -> None:
        super().__init__()
        self.part = part

    def render(self, task: Task) -> RenderableType:
        f = task.fields
        since = 0.0 if f["done"] else time.monotonic() - f["at"]
        if self.part == "bar":
            total = task.total or 1e-3
            done = total if f["done"] else min(f["elapsed"] + since, total * 0.99)
            return ProgressBar(total=total, completed=done, width=30)
        if f["done"]:
            return Text("")
        if f["remaining"] is None:
            return Text("")
        left = f["remaining"] - since
        return Text(f"~{left:.0f}s left" if left >= 1 else "any moment")


def _seconds(durations: list[int]) -> str:
    """4,6,8 as it is; a run of whole seconds (Omni's 3 to 15) as a range."""
    if len(durations) > 3 and durations == list(range(durations[0], durations[-1] + 1)):
        return f"{durations[0]}–{durations[-1]}"
    return ",".join(map(str, durations))


class LiveProgress:
    """A Rich progress bar fed by the engine's progress callback: state, elapsed, expected time."""

    def __init__(self, enabled: bool) -> None:
        # Only on a terminal: into a pipe or a log file, a progress bar is just noise (and stray blank lines).
        self.enabled = enabled and not mode.quiet and err.is_terminal
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[state]:<12}"),
            _Clocked("bar"),
            TimeElapsedColumn(),
            _Clocked("eta"),
            console=err,
            transient=True,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def __call__(self, p: JobProgress) -> None:
        if not self.enabled:
            return
        total = p.elapsed_s + (p.expected_remaining_s or 0.0)
        done = p.state in ("succeeded", "downloading") or p.message == "done"
        fields: dict[str, Any] = {
            "state": p.message or p.state,
            "done": done,
            "at": time.monotonic(),
            "elapsed": p.elapsed_s,
            "remaining": p.expected_remaining_s,
        }
        if self.task is None:
            self.task = self.progress.add_task("job", total=max(total, 1e-3), **fields)
        self.progress.update(self.task, total=max(total, 1e-3), completed=total if done else p.elapsed_s, **fields)


def alternatives_table(alternatives: Iterable[Any], family: str) -> None:
    """Other models that could make the same video: auto never swaps the model, so they are shown, not chosen."""
    columns = [
        Column("model"),
        Column("provider", drop=3),
        Column("price"),
        Column("per second", drop=2),
        Column("note", drop=4, shrink=16),
    ]
    rows = [
        [
            c.model,
            c.provider,
            f"${c.estimate.total_usd:.2f}",
            f"${c.estimate.rate_per_second:.4f}/s" + (" (tokens)" if c.estimate.video_tokens is not None else ""),
            "; ".join(c.reasons),
        ]
        for c in alternatives
    ]
    tables.render(out, columns, rows, title=f"other models than {family} for the same request")
    info("auto never swaps models; choose one with --model")


def estimate_line(est: Estimate) -> str:
    return f"estimated cost: {est.describe()}"


def cost_line(job: Job) -> str:
    """Estimate against actual, and what the actual rests on (the provider's reported usage, or the list rate)."""
    usage = [r.usage for r in job.results if r.usage is not None]
    basis = f"from usage: {'; '.join(u.describe() for u in usage)}" if usage else "at the catalog's rate"
    if job.cost_usd is None:
        return f"cost: not known yet; estimated ${job.estimate_usd:.4f}"
    diff = job.cost_usd - job.estimate_usd
    return f"cost: ${job.cost_usd:.4f} ({basis}); estimated ${job.estimate_usd:.4f} ({diff:+.4f})"


def print_json(data: Any) -> None:
    mode.json_printed = True
    # Plain JSON values (nearly every document) go through pydantic-core's encoder, the same text ~15x faster
    # than json's indenting one, which is pure Python (a 10,000-job batch: 0.24 s). Anything else (a datetime, a
    # path) keeps json's str() forms.
    if _plain(data):
        text = pydantic_core.to_json(data, indent=2).decode()
    else:
        text = json.dumps(data, default=str, indent=2, ensure_ascii=False)
    if out.is_terminal:
        out.print_json(text)  # coloured for a person
    else:
        # For a program: the same JSON, written as is (rich's highlighting and wrapping took over a minute for a
        # 10,000-job batch).
        out.file.write(text + "\n")


def _plain(value: Any) -> bool:
    """Only dicts with text keys, lists, text, whole numbers, finite floats, booleans and nulls: values both
    encoders write alike (json writes NaN, which is not JSON; pydantic-core writes null)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def line(text: str, *, to_err: bool = False) -> None:
    """One line of plain text (it may hold brackets, paths, prompts: never read as markup, never wrapped)."""
    (err if to_err else out).print(text, markup=False, highlight=False, soft_wrap=True, emoji=False)


def info(text: str) -> None:
    """A note on stderr, which ``--quiet`` silences."""
    if not mode.quiet:
        line(text, to_err=True)


def hint(text: str) -> None:
    """What to do next, on stderr: shown even with ``--quiet`` (it goes with a non-zero exit)."""
    line(f"next: {text}", to_err=True)


def where(job: Job) -> str:
    """Where a job's videos are: the file, or the folder when there are several."""
    if not job.results:
        return ""
    if len(job.results) == 1:
        return job.results[0].path
    return f"{os.path.dirname(job.results[0].path)}{os.sep} ({len(job.results)} files)"


def result_table(job: Job) -> None:
    columns = [
        Column("file", shrink=20, cut_left=True),
        Column("size", right=True, drop=4),
        Column("resolution", drop=2),
        Column("duration", right=True, drop=3),
        Column("codecs", drop=5),
        Column("sha256", drop=6),
    ]
    rows = [
        [
            r.path,
            f"{r.size_bytes / 1e6:.1f} MB",
            f"{r.width}x{r.height}",
            f"{r.duration_s:.2f} s",
            f"{r.video_codec}+{r.audio_codec}" if r.audio_codec else f"{r.video_codec} (silent)",
            r.sha256[:16],
        ]
        for r in job.results
    ]
    tables.render(out, columns, rows, title=f"results · cost ${(job.cost_usd or 0):.2f}")


def saved_lines(job: Job) -> list[str]:
    """One copy-pasteable line per saved file, then the cost."""
    lines = []
    for r in job.results:
        codecs = f"{r.video_codec}+{r.audio_codec}" if r.audio_codec else f"{r.video_codec}, silent"
        lines.append(
            f"saved {r.path}  ({r.width}x{r.height}, {r.duration_s:.2f} s, {codecs}, "
            f"{r.size_bytes / 1e6:.1f} MB, sha256 {r.sha256[:12]})"
        )
    if job.error:  # a succeeded job carries a note when some of its samples were blocked (partial result)
        lines.append(f"note: {job.error.get('message', '')}")
    emulated = f" (emulated: the price {catalog_key(job.provider)} would charge)"
    note = "" if real_money(job.provider) else emulated
    lines.append(f"job {job.id} succeeded · cost ${(job.cost_usd or 0):.2f}{note}")
    return lines


def print_saved(job: Job) -> None:
    """A succeeded job's files: with ``--quiet`` only the paths (one per line, for scripts)."""
    if mode.quiet:
        for r in job.results:
            line(r.path)
        return
    for text in saved_lines(job):
        line(text)


def jobs_table(jobs: list[Job], title: str | None = "jobs") -> None:
    if mode.quiet:
        for j in jobs:
            line(j.id)
        return
    columns = [
        Column("id"),
        Column("state"),
        Column("created", drop=5),
        Column("provider", drop=7),
        Column("model", drop=6, shrink=12),
        Column("cost", right=True, drop=3),
        Column("prompt", drop=4, shrink=12),
        Column("result", drop=2, shrink=16, cut_left=True),
    ]
    rows = []
    for j in jobs:
        prompt = " ".join(str(j.request.get("prompt", "")).split())
        cost = f"${j.cost_usd:.2f}" if j.cost_usd is not None else f"~${j.estimate_usd:.2f}"
        rows.append(
            [
                j.id,
                j.state.value,
                j.created_at.astimezone().strftime("%m-%d %H:%M"),
                j.provider,
                j.model,
                cost,
                prompt,
                where(j),
            ]
        )
    tables.render(out, columns, rows, title=title)


def events_table(events: list[JobEvent]) -> None:
    columns = [Column("at"), Column("from", drop=2), Column("to"), Column("message", shrink=20)]
    rows = [
        [
            e.at.astimezone().strftime("%H:%M:%S.%f")[:-3],
            e.from_state.value if e.from_state else "",
            e.to_state.value,
            e.message,
        ]
        for e in events
    ]
    tables.render(out, columns, rows, title="events")
