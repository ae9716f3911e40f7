"""`veokit worker`, `veokit enqueue`, `veokit batch FILE` and `veokit costs`: many jobs, many workers, one budget.

``enqueue`` and ``batch`` only record jobs (idempotently: a client key per request, a stable one per batch
line); workers run them. ``batch`` also runs an in-process worker by default, so one command on a laptop
does everything; with workers elsewhere, ``--no-run`` just enqueues and follows the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from veokit import errors as E
from veokit.cli import options as opt
from veokit.cli import output as ui
from veokit.cli import tables
from veokit.cli.failures import cli_errors, fail
from veokit.cli.tables import Column
from veokit.config import PROVIDERS, load_settings
from veokit.models.job import Job, JobState, utcnow
from veokit.service import (
    SpendSummary,
    budget_blocked,
    budget_day,
    exit_code_for,
    gc_paused,
    job_view,
    next_step,
    redact_url,
    summarise,
)
from veokit.service.next_step import reason
from veokit.service.providers import specs

if TYPE_CHECKING:  # imported by the commands that use them: `veokit --help` stays light
    from veokit.service import BatchItem, BatchStatus, VeoClient, WorkerConfig


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("worker", epilog=WORKER_EXAMPLES)(cli_errors(worker))
    app.command("enqueue", epilog=ENQUEUE_EXAMPLES)(cli_errors(enqueue))
    app.command("batch", epilog=BATCH_EXAMPLES)(cli_errors(batch))
    app.command("costs", epilog=COSTS_EXAMPLES)(cli_errors(costs))


WORKER_EXAMPLES = """Examples:

  veokit worker

  veokit worker --drain

  VEOKIT_DATABASE_URL=postgresql://host/veokit veokit worker -c 50
"""
ENQUEUE_EXAMPLES = """Examples:

  veokit enqueue "a red fox trotting through fresh snow" --seed 7

  veokit enqueue -f prompt.txt --client-key order-1234 --json

  veokit enqueue - < prompt.txt && veokit worker --drain
"""
BATCH_EXAMPLES = """Examples:

  veokit batch prompts.jsonl

  veokit batch shots.csv --provider emulator --out clips/

  veokit batch prompts.jsonl --no-run && veokit worker
"""
COSTS_EXAMPLES = """Examples:

  veokit costs

  veokit costs --days 0 --json
"""


def _fail(message: str, code: int = E.ExitCode.BAD_INPUT) -> typer.Exit:
    return fail(message, code)


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _log(line: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    ui.err.print(f"{stamp} {line}", highlight=False, markup=False, soft_wrap=True)


def _on_signals(first: Callable[[], None], what: str) -> None:
    """First SIGINT/SIGTERM: ``first()`` (a graceful stop). Second: exit at once; leases then expire."""
    loop = asyncio.get_running_loop()
    seen: list[int] = []

    def handle(signum: int) -> None:
        seen.append(signum)
        if len(seen) == 1:
            _log(f"{what}; signal again to exit at once")
            first()
        else:
            _log("exiting now; jobs in flight are picked up once their leases expire")
            os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle, sig)


# -- veokit worker ----------------------------------------------------------------------------------------
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            metavar="N",
            help="Jobs in flight at once. Default: VEOKIT_WORKER_CONCURRENCY (200).",
            show_default=False,
        ),
    ] = None,
    lease: Annotated[
        float | None,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            help="How long a claimed job stays this worker's without a heartbeat (renewed every third); a killed "
            "worker's jobs go to another after it. Default: VEOKIT_WORKER_LEASE_S (30).",
            show_default=False,
        ),
    ] = None,
    drain: Annotated[
        bool, typer.Option("--drain", help="Exit once no job is left to run (jobs held back by a budget cap excepted).")
    ] = False,
) -> None:
    """Run queued jobs from the store until stopped (SIGTERM/Ctrl-C: finish submits, release leases).

    Any number of workers share one store (VEOKIT_DATABASE_URL: SQLite on one machine, PostgreSQL across
    machines); each job runs once, and the budget caps (VEOKIT_BUDGET_*) hold across all of them."""
    from veokit.service import VeoClient

    settings = load_settings()
    client = VeoClient(settings)
    config = client.worker_config(concurrency=concurrency, lease_s=lease, drain=drain)

    async def go() -> None:
        async with client:
            w = client.worker(config, on_event=_log)
            _on_signals(w.stop, "stopping: no new claims; finishing submits in progress and releasing leases")
            store = redact_url(settings.database_url or "default SQLite file")
            _log(f"worker {w.owner} · store {store} · concurrency {config.concurrency} · lease {config.lease_s:g} s")
            stats = await w.run()
        finished = ", ".join(f"{n} {s}" for s, n in sorted(stats.finished.items())) or "none"
        _log(
            f"worker stopped · claimed {stats.claimed} · finished: {finished} · released {stats.released} "
            f"· lost {stats.lost}"
        )

    _run(go())


# -- veokit enqueue ---------------------------------------------------------------------------------------
def enqueue(
    prompt: opt.Prompt = None,
    prompt_file: opt.PromptFile = None,
    image: opt.Image = None,
    last_frame: opt.LastFrame = None,
    ref: opt.Refs = None,
    extend: opt.Extend = None,
    model: opt.Model = None,
    aspect: opt.Aspect = None,
    resolution: opt.Resolution = None,
    duration: opt.Duration = 8,
    seed: opt.Seed = None,
    negative: opt.Negative = None,
    samples: opt.Samples = 1,
    no_audio: opt.NoAudio = False,
    person_generation: opt.PersonGeneration = None,
    enhance_prompt: opt.EnhancePrompt = None,
    storage_uri: opt.StorageUri = None,
    option: opt.ProviderOptions = None,
    out: opt.Out = None,
    provider: opt.Provider = None,
    client_key: Annotated[
        str | None,
        typer.Option(
            "--client-key",
            metavar="KEY",
            help="Idempotency key: enqueueing the same key again returns the same job.",
            show_default=False,
        ),
    ] = None,
    fresh: opt.Fresh = False,
    as_json: opt.Json = False,
) -> None:
    """Record a job for the workers and print its id at once (nothing is paid until a worker submits it)."""
    from veokit.service import VeoClient

    fields = opt.request_fields(
        prompt=prompt,
        prompt_file=prompt_file,
        image=image,
        last_frame=last_frame,
        ref=ref,
        model=model,
        aspect=aspect,
        resolution=resolution,
        duration=duration,
        seed=seed,
        negative=negative,
        samples=samples,
        no_audio=no_audio,
        person_generation=person_generation,
        enhance_prompt=enhance_prompt,
        storage_uri=storage_uri,
        option=option,
    )
    settings = load_settings()

    async def go() -> tuple[Job, str | None]:
        async with VeoClient(settings) as client:
            request, where, source = await opt.build_request(client, fields, extend, provider)
            plan = client.plan(request, where, extending=source, out_dir=out)
            job = await client.submit(plan, out_dir=out, client_key=client_key, fresh=fresh)
            return job, await client.reused_from(job)

    job, reused = _run(go())
    if as_json:
        ui.print_json({**job_view(job), "reused_from": reused})
        return
    ui.line(job.id)
    if reused:
        ui.info(f"{job.id}: same request and seed as {reused}: reused its video, nothing paid (--fresh generates anew)")
    elif job.state is JobState.QUEUED:
        ui.info("queued; `veokit worker` runs it (`veokit jobs show ID` follows it)")


# -- veokit batch -----------------------------------------------------------------------------------------
def batch(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Requests, one per line: .jsonl, or .csv with a header row.")
    ],
    provider: Annotated[
        str | None,
        opt.provider_option(
            f"Provider for lines that name none: {', '.join(PROVIDERS)} or auto. Default: VEOKIT_PROVIDER."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Folder for the MP4s of lines that name none. Default: VEOKIT_OUT_DIR (./videos).",
            show_default=False,
        ),
    ] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Do not reuse earlier identical seeded videos.")] = False,
    run_here: Annotated[
        bool,
        typer.Option(
            "--run/--no-run", help="Run the jobs in this process too (--no-run: leave them to `veokit worker`s)."
        ),
    ] = True,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the batch until every job ends.")] = True,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            metavar="N",
            help="Jobs the in-process worker runs at once. Default: VEOKIT_WORKER_CONCURRENCY (200).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the batch's jobs as JSON.")] = False,
) -> None:
    """Enqueue every request in FILE (safe to re-run: nothing is enqueued twice), then follow the batch.

    A line is one request, e.g. {"prompt": "a red fox in snow", "seed": 7, "duration": 4, "image": "fox.png"},
    plus provider, out (a folder) and client_key; a CSV file has a header row of the same names. Paths are
    relative to the file."""
    from veokit.service import VeoClient, read_batch

    with contextlib.ExitStack() as paused:
        # Reading, recording and printing a large batch without the garbage collector's passes (see gc_paused);
        # following it (running jobs, perhaps for hours) collects as usual.
        paused.enter_context(gc_paused())
        items = read_batch(file)
        client = VeoClient(load_settings())
        config = client.worker_config("batch", concurrency=concurrency)

        async def go() -> int:
            async with client:
                enqueued = await client.enqueue_batch(
                    items, provider=provider, out_dir=out, fresh=fresh, source=file.name
                )
                if not as_json:
                    _log(enqueued.describe(file.name))
                jobs = enqueued.jobs
                if not wait:
                    _print_batch(items, jobs, as_json)
                    return 0
                paused.close()
                jobs = await _follow(client, [j.id for j in jobs], run_here=run_here, config=config, quiet=as_json)
            _print_batch(items, jobs, as_json)
            return exit_code_for(jobs)  # jobs a budget cap holds back recorded BudgetExceeded: 2

        code = _run(go())
    raise typer.Exit(code)


async def _follow(client: VeoClient, ids: list[str], *, run_here: bool, config: WorkerConfig, quiet: bool) -> list[Job]:
    """Follow the batch with a progress bar (running it here too with ``run_here``); a signal stops following,
    leaving the jobs to a re-run of the same command."""
    stop = asyncio.Event()
    _on_signals(stop.set, "stopping: re-run the same command to continue where this one left off")
    progress = Progress(
        TextColumn("[bold]batch"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=ui.err,
        disable=quiet,
    )
    with progress:
        bar = progress.add_task("batch", total=len(ids), status="")

        hinted: list[bool] = []

        def show(status: BatchStatus) -> None:
            progress.update(bar, completed=status.finished, status=status.describe())
            if not run_here and status.unclaimed and not hinted:
                hinted.append(True)  # once: --no-run leaves the jobs to workers, which may not be running
                progress.console.print(
                    f"waiting for a worker to run {status.unclaimed} queued job(s); if none is running, start one "
                    "with `veokit worker` (or re-run without --no-run). Ctrl-C stops following; the jobs stay queued",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )

        jobs = await client.follow(ids, run_here=config if run_here else None, on_status=show, stop=stop)
    if stop.is_set():
        raise typer.Exit(E.ExitCode.INTERRUPTED)
    return jobs


def _print_batch(items: list[BatchItem], jobs: list[Job], as_json: bool) -> None:
    by_key = {j.client_key: j for j in jobs}
    lines = [(item.line, by_key.get(item.client_key)) for item in items]
    if as_json:
        ui.print_json(
            {
                "status": summarise(jobs).__dict__,
                "jobs": [
                    {
                        "line": n,
                        "job_id": j.id,
                        "state": j.state.value,
                        "cost_usd": j.cost_usd,
                        "estimate_usd": j.estimate_usd,
                        "files": [r.path for r in j.results],
                        "error": (j.error or {}).get("message"),
                    }
                    for n, j in lines
                    if j is not None
                ],
            }
        )
        return
    status = summarise(jobs)
    ui.line(status.describe())
    folders: dict[str, int] = {}
    for _, j in lines:
        for r in j.results if j is not None else []:
            folder = os.path.dirname(r.path)
            folders[folder] = folders.get(folder, 0) + 1
    for folder, n in sorted(folders.items()):
        ui.line(f"{n} video(s) in {folder}{os.sep}")
    trouble = [(n, j) for n, j in lines if j is not None and j.state is not JobState.SUCCEEDED]
    if trouble:
        columns = [Column("line", right=True), Column("job"), Column("state"), Column("why", shrink=16)]
        rows = [
            [
                str(n),
                j.id,
                "held back by budget" if budget_blocked(j) else j.state.value,
                reason(j),
            ]
            for n, j in trouble[:50]
        ]
        tables.render(ui.out, columns, rows, title="not succeeded")
        if len(trouble) > 50:
            ui.line(f"… and {len(trouble) - 50} more (`veokit jobs list --state STATE`)")
        steps = {step for _, j in trouble if not budget_blocked(j) and (step := next_step(j))}
        if len(steps) == 1:
            ui.hint(steps.pop())
        elif steps:
            ui.hint("`veokit jobs show JOB` says what to do about each one")


# -- veokit costs -----------------------------------------------------------------------------------------
def costs(
    days: Annotated[int, typer.Option("--days", metavar="N", help="The last N UTC days (0: everything).")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout (errors too).")] = False,
) -> None:
    """Spend by UTC day, provider and model: spent, still reserved by jobs in flight, and of unknown outcome.

    The caps it reports are VEOKIT_BUDGET_PER_JOB_USD, VEOKIT_BUDGET_DAILY_USD and VEOKIT_BUDGET_PROVIDER_USD;
    the emulator's play money is shown apart and never counted against them."""
    from veokit.service import VeoClient

    if days < 0:
        raise _fail("--days must be >= 0")
    settings = load_settings()

    async def go() -> tuple[SpendSummary, Any]:
        async with VeoClient(settings) as client:
            return await client.costs(days=days or None), client.budget

    summary, caps = _run(go())
    today = budget_day(utcnow())
    # Play money (the emulator) is shown apart and never counted against the caps.
    emulated = {s.name for s in specs() if not s.real_money}
    real, fake = summary.only(emulated, keep=False), summary.only(emulated)
    if as_json:
        ui.print_json(
            {
                "rows": [
                    r.__dict__ | {"committed_usd": r.committed_usd, "emulated": r.provider in emulated}
                    for r in summary.rows
                ],
                "real": real.totals(today),
                "emulated": fake.totals(today),
                "queued_jobs": summary.queued_jobs,
                "queued_estimate_usd": summary.queued_estimate_usd,
                "today": today,
                "committed_today_usd": real.committed(today),
                "caps": None
                if caps is None
                else {
                    "per_job_usd": caps.per_job_usd,
                    "daily_usd": caps.daily_usd,
                    "provider_daily_usd": dict(caps.provider_daily_usd),
                },
            }
        )
        return
    columns = [
        Column("day"),
        Column("provider", drop=3),
        Column("model", shrink=10),
        Column("submits", right=True, drop=4),
        Column("spent", right=True),
        Column("estimated", right=True, drop=6),
        Column("in flight", right=True, drop=2),
        Column("unknown", right=True, drop=5),
        Column("total", right=True),
    ]
    rows = [
        [
            r.day,
            f"{r.provider} (emulated)" if r.provider in emulated else r.provider,
            r.model,
            str(r.submits),
            f"${r.spent_usd:.4f}" if r.spent_usd != round(r.spent_usd, 2) else f"${r.spent_usd:.2f}",
            f"${r.spent_estimate_usd:.2f}",
            f"${r.reserved_usd:.2f}",
            f"${r.unknown_usd:.2f}",
            f"${r.committed_usd:.2f}",
        ]
        for r in summary.rows
    ]
    tables.render(ui.out, columns, rows, title="spend (UTC days)")
    totals = real.totals(today)
    ui.out.print(
        f"real money: total spent ${totals['spent_usd']:.2f}; today ({today}) ${totals['committed_today_usd']:.2f} "
        f"spent or reserved; {summary.queued_jobs} queued job(s) estimated at ${summary.queued_estimate_usd:.2f}",
        highlight=False,
        soft_wrap=True,
    )
    ui.out.print(
        "spent: what the jobs cost (from the usage the provider reported, where it does); estimated: what those "
        "same jobs were estimated at before they ran",
        highlight=False,
        soft_wrap=True,
    )
    if fake.rows:
        played = fake.totals(today)
        ui.out.print(
            f"emulated: ${played['spent_usd']:.2f} in emulator prices over {played['submits']} submit(s); "
            "not real money, never counted against the caps",
            highlight=False,
            soft_wrap=True,
        )
    if summary.rows and any(r.unknown_usd for r in summary.rows):
        ui.line("unknown: submits whose outcome is unknown (a crash mid-submit); the provider may bill them")
    if caps is not None:
        ui.out.print(_caps_line(caps, real, today), highlight=False, soft_wrap=True)


def _caps_line(caps: Any, summary: SpendSummary, today: str) -> str:
    parts = []
    if caps.daily_usd is not None:
        parts.append(f"daily ${summary.committed(today):.2f} of ${caps.daily_usd:.2f}")
    for name, cap in sorted(caps.provider_daily_usd.items()):
        parts.append(f"{name} ${summary.committed(today, name):.2f} of ${cap:.2f}")
    if caps.per_job_usd is not None:
        parts.append(f"per job ≤ ${caps.per_job_usd:.2f}")
    return "caps: " + "; ".join(parts)
