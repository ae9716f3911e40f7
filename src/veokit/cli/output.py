"""How the CLI shows things: tables, the live progress display, job summaries. No logic lives here."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from veokit.models.catalog import Catalog, Estimate
from veokit.models.job import Job, JobEvent
from veokit.service import Progress as JobProgress
from veokit.service.providers import catalog_key, real_money

out = Console()
err = Console(stderr=True)


def models_table(catalog: Catalog, provider: str | None, today: dt.date) -> Table:
    t = Table(title="Veo models (veokit catalog)", show_lines=False)
    for col in (
        "provider",
        "model",
        "status",
        "seconds",
        "resolutions",
        "aspect",
        "audio",
        "features",
        "videos/req",
        "USD/s 720p · 1080p · 4k (audio / silent)",
    ):
        t.add_column(col, overflow="fold")
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
        style = "dim" if lc.is_retired(today) else None
        t.add_row(
            o.provider,
            o.model,
            status,
            ",".join(map(str, o.durations)),
            ",".join(o.resolutions),
            ",".join(o.aspect_ratios),
            o.audio,
            ", ".join(f.replace("_to_video", "") for f in o.features),
            f"{o.sample_count[0]}–{o.sample_count[1]}",
            prices,
            style=style,
        )
    return t


class LiveProgress:
    """A Rich progress bar fed by the engine's progress callback: state, elapsed, expected time."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[state]:<12}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"),
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
        remaining = p.expected_remaining_s or 0.0
        eta = "" if done else (f"~{remaining:.0f}s left" if remaining >= 1 else "any moment")
        state = p.message or p.state
        if self.task is None:
            self.task = self.progress.add_task("job", total=max(total, 1e-3), state=state, eta=eta)
        self.progress.update(
            self.task, total=max(total, 1e-3), completed=total if done else p.elapsed_s, state=state, eta=eta
        )


def estimate_line(est: Estimate) -> str:
    return f"estimated cost: {est.describe()}"


def print_json(data: Any) -> None:
    text = json.dumps(data, default=str, indent=2, ensure_ascii=False)
    if out.is_terminal:
        out.print_json(text)  # coloured for a person
    else:
        # For a program: the same JSON, written as is (rich's highlighting and wrapping took over a minute for a
        # 10,000-job batch).
        out.file.write(text + "\n")


def result_table(job: Job) -> Table:
    t = Table(title=f"{job.id} · {job.state.value} · cost ${(job.cost_usd or 0):.2f}", show_header=True)
    for col in ("file", "size", "resolution", "duration", "codecs", "sha256"):
        t.add_column(col, overflow="fold")
    for r in job.results:
        t.add_row(
            r.path,
            f"{r.size_bytes / 1e6:.1f} MB",
            f"{r.width}x{r.height}",
            f"{r.duration_s:.2f} s",
            f"{r.video_codec}+{r.audio_codec}" if r.audio_codec else f"{r.video_codec} (silent)",
            r.sha256[:16],
        )
    return t


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


def jobs_table(jobs: list[Job]) -> Table:
    t = Table(title="jobs")
    for col in ("id", "state", "provider", "model", "prompt", "estimate", "cost", "created"):
        t.add_column(col, overflow="fold")
    for j in jobs:
        prompt = str(j.request.get("prompt", ""))
        t.add_row(
            j.id,
            j.state.value,
            j.provider,
            j.model,
            prompt[:40] + ("…" if len(prompt) > 40 else ""),
            f"${j.estimate_usd:.2f}",
            "" if j.cost_usd is None else f"${j.cost_usd:.2f}",
            j.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        )
    return t


def events_table(events: list[JobEvent]) -> Table:
    t = Table(title="events")
    for col in ("at", "from", "to", "message"):
        t.add_column(col, overflow="fold")
    for e in events:
        t.add_row(
            e.at.astimezone().strftime("%H:%M:%S.%f")[:-3],
            e.from_state.value if e.from_state else "",
            e.to_state.value,
            e.message,
        )
    return t
