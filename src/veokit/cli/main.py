"""`veokit` command line: a thin layer over :class:`veokit.service.client.VeoClient`.

Exit codes: 0 done · 2 bad input or configuration · 3 provider / network / download failure ·
4 content filtered · 5 timed out · 6 needs your decision (submit outcome unknown) · 130 interrupted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
from collections.abc import Coroutine
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from veokit import errors as E
from veokit.cli import logs, tables
from veokit.cli import options as opt
from veokit.cli import output as ui
from veokit.cli.failures import check_job, cli_errors
from veokit.cli.failures import fail as fail
from veokit.cli.tables import Column
from veokit.config import AUTO, PROVIDERS, load_settings
from veokit.models.catalog import default_catalog
from veokit.models.job import JobState
from veokit.service import exit_code_for, job_view, next_step
from veokit.service.providers import catalog_key

# VeoClient (the engine, the store, SQLAlchemy) is imported by the commands that use it: `veokit --help` and
# every command's --help stay light (tests/unit/test_cli_startup.py).
if TYPE_CHECKING:
    from veokit.service import Job, Plan, Route, VeoClient

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
app = typer.Typer(
    name="veokit",
    help="Reliable, durable, cost-aware Google Veo video generation.\n\n"
    'Try it with no key: veokit generate "a red fox in snow" --provider emulator',
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    rich_markup_mode=None,
)
jobs_app = typer.Typer(help="Inspect and decide on recorded jobs.", no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(jobs_app, name="jobs")

T = TypeVar("T")
JobId = Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id (job_…; `veokit jobs list` shows them).")]


def _version(value: bool) -> None:
    if value:
        ui.line(f"veokit {version('veokit')}")
        raise typer.Exit(0)


@app.callback()
def _global(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only results (ids, paths) and errors.")] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also show library logs (retries, HTTP) on stderr.")
    ] = False,
    _: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    ui.mode.quiet = quiet
    ui.mode.verbose = verbose
    logs.configure(verbose=verbose)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _show_route(routing: Route, as_json: bool) -> None:
    """generate --provider auto --dry-run: every candidate, its price, and why it was or was not chosen."""
    chosen = routing.chosen
    if as_json:
        ui.print_json(
            {
                "dry_run": True,
                "provider": chosen.provider if chosen else None,
                "model": chosen.model if chosen else None,
                "family": routing.family,
                "estimate_usd": chosen.estimate.total_usd if chosen and chosen.estimate else None,
                "candidates": [
                    {
                        "provider": c.provider,
                        "model": c.offer.model if c.offer else None,
                        "estimate_usd": c.estimate.total_usd if c.estimate else None,
                        "credits": c.estimate.credits if c.estimate else None,
                        "eligible": c.eligible,
                        "reasons": list(c.reasons),
                        "verdict": routing.verdict(c),
                    }
                    for c in routing.candidates
                ],
                "alternatives": [
                    {
                        "family": c.offer.model_family if c.offer else None,
                        "provider": c.provider,
                        "model": c.model,
                        "estimate_usd": c.estimate.total_usd if c.estimate else None,
                        "usd_per_second": c.estimate.rate_per_second if c.estimate else None,
                        "reasons": list(c.reasons),
                    }
                    for c in routing.alternatives
                ],
            }
        )
        return
    where = f"{chosen.provider} ({chosen.model})" if chosen else "no provider"
    r = routing.request
    ui.line(
        f"dry run: {routing.family} {r.aspect_ratio} {r.resolution} {r.duration_seconds}s x{r.sample_count} "
        f"via --provider auto → {where}; nothing was sent"
    )
    rows = []
    for c in routing.candidates:
        price = (
            "—"
            if c.estimate is None
            else f"${c.estimate.total_usd:.2f}" + (f" ({c.estimate.credits:g} credits)" if c.estimate.credits else "")
        )
        rows.append([c.provider, c.model, price, routing.verdict(c)])
    columns = [Column("provider"), Column("model", drop=2, shrink=12), Column("price"), Column("decision", shrink=20)]
    tables.render(ui.out, columns, rows)
    if chosen and chosen.estimate:
        ui.line(ui.estimate_line(chosen.estimate))
    if routing.alternatives:
        ui.alternatives_table(routing.alternatives, routing.family)


# ---------------------------------------------------------------------------------------------------------
GENERATE_EXAMPLES = """Examples:

  veokit generate "a red fox trotting through fresh snow" --provider emulator

  veokit generate -f prompt.txt --image first.png --resolution 1080p --dry-run

  echo "waves at dusk" | veokit generate - --provider auto --json
"""


@app.command(epilog=GENERATE_EXAMPLES)
@cli_errors
def generate(
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
    retry_filtered: Annotated[
        int | None,
        typer.Option(
            "--retry-filtered",
            metavar="N",
            help="Resubmit a safety-filtered result up to N times (each success is billed). "
            "Env: VEOKIT_RETRY_FILTERED. Default: 0.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and price; spend nothing.")] = False,
    fresh: opt.Fresh = False,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Generate video(s) and save them, with a live progress display."""
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

    async def go() -> None:
        client = VeoClient(settings)
        try:
            if opt.needs_store(extend):  # the job to extend is in the store; otherwise planning needs none
                await client.start()
            request, where, source = await opt.build_request(client, fields, extend, provider)
            try:
                plan = client.plan(request, where, extending=source, out_dir=out)
            except E.VeokitError:
                if dry_run and (where or settings.provider) == AUTO:
                    _show_route(client.route(request), as_json)  # every candidate, and why none can run it
                raise
            if not as_json:
                for note in plan.notes():
                    ui.info(f"note: {note}")
            if dry_run:
                _show_dry_run(plan, as_json)
                return
            if not client.started:
                await client.start()
            await _generate(client, plan, out, fresh, retry_filtered, as_json)
        finally:
            await client.aclose()

    run(go())


def _show_dry_run(plan: Plan, as_json: bool) -> None:
    if plan.route is not None:
        _show_route(plan.route, as_json)
        return
    if as_json:
        ui.print_json(
            {
                "dry_run": True,
                "provider": plan.provider,
                "model": plan.offer.model,
                "estimate_usd": plan.estimate.total_usd,
                "detail": plan.estimate.describe(),
                "notes": plan.notes(),
            }
        )
        return
    ui.line(f"dry run: {plan.describe()}; nothing was sent")
    ui.line(ui.estimate_line(plan.estimate))


async def _generate(
    client: VeoClient, plan: Plan, out: Path | None, fresh: bool, retry_filtered: int | None, as_json: bool
) -> None:
    if not as_json and plan.route is not None and plan.route.chosen is not None:
        ui.info(f"--provider auto: {plan.provider} ({plan.route.verdict(plan.route.chosen)})")
    job = await client.submit(plan, out_dir=out, fresh=fresh)
    reused = await client.reused_from(job)
    if not as_json:
        if reused:
            ui.info(
                f"job {job.id}: same request and seed as {reused}: reused its video, nothing paid "
                "(--fresh generates a new one)"
            )
        else:
            ui.info(f"job {job.id}: {plan.describe()} · {ui.estimate_line(plan.estimate)}")
    with ui.LiveProgress(enabled=not as_json) as live:
        job = await client.finish(job.id, on_progress=live, retry_filtered=retry_filtered)
    twin = None if reused else await client.reused_from(job)  # an identical job in flight paid for it
    if as_json:
        ui.print_json({**job_view(job), "reused_from": reused or twin, "next": next_step(job)})
    elif job.state is JobState.SUCCEEDED:
        if twin:
            ui.info(f"job {job.id}: same request and seed as {twin}, in flight together: got its video, nothing paid")
        ui.print_saved(job)
    check_job(job, shown=as_json)


@app.command(epilog="Examples:\n\n  veokit doctor\n\n  veokit doctor -p vertex -p kie")
@cli_errors
def doctor(
    provider: Annotated[
        list[str] | None,
        opt.provider_option(
            f"Check only these (repeatable): {', '.join(PROVIDERS)}. Default: every provider with credentials."
        ),
    ] = None,
) -> None:
    """Check each configured provider: credentials, model availability, balance, latency.

    Exit 0 when every check passes, 1 when one fails, 2 when nothing is configured (it then lists what each
    provider needs: the environment variables to set)."""
    from veokit.service.doctor import run_doctor, what_each_needs
    from veokit.service.providers import pick_provider

    settings = load_settings()
    names = list(provider or []) or settings.credentials_present()
    if not names and settings.provider is None:
        ui.err.print("no provider configured and no credentials found. What each provider needs:", highlight=False)
        for line in what_each_needs():
            ui.err.print(f"  {line}", soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(E.ExitCode.BAD_INPUT)
    if not names:
        names = [pick_provider(settings, None)]
    for name in names:
        pick_provider(settings, name)  # unknown names fail here, before any network call
    findings = run(run_doctor(settings, default_catalog(), names))
    for f in findings:
        (ui.out if f.ok else ui.err).print(f.line(), soft_wrap=True, highlight=False, markup=False)
    raise typer.Exit(0 if all(f.ok for f in findings) else 1)


@app.command(epilog="Examples:\n\n  veokit models\n\n  veokit models --provider gemini --json")
@cli_errors
def models(
    provider: Annotated[
        str | None,
        opt.provider_option(f"Only this provider's models: {', '.join(PROVIDERS)}."),
    ] = None,
    as_json: opt.Json = False,
) -> None:
    """Show the model catalog: capabilities, prices and lifecycle."""
    catalog = default_catalog()
    if provider:
        if provider not in PROVIDERS:
            raise fail(f"--provider: unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
        provider = catalog_key(provider)  # the rows it sells: the emulator sells Vertex's
    if as_json:
        ui.print_json([o.model_dump(mode="json") for o in catalog.offers if not provider or o.provider == provider])
        return
    ui.models_table(catalog, provider, dt.date.today())


@app.command(epilog="Examples:\n\n  veokit resume\n\n  veokit resume job_01JD8Z3K2M4N5P6Q7R")
@cli_errors
def resume(
    job_id: Annotated[str | None, typer.Argument(help="One job; default: every unfinished job.")] = None,
    as_json: opt.Json = False,
    quiet: opt.Quiet = False,
) -> None:
    """Finish unfinished jobs after a crash, never submitting one twice."""
    from veokit.service import VeoClient

    async def go() -> int:
        async with VeoClient(load_settings()) as client:
            with ui.LiveProgress(enabled=not as_json) as live:
                jobs = await client.resume(job_id, on_progress=live)
            lines = {j.id: await client.status_line(j) for j in jobs if j.state is not JobState.SUCCEEDED}
        if as_json:
            ui.print_json([{**job_view(j), "next": next_step(j)} for j in jobs])
            return exit_code_for(jobs)
        if not jobs:
            ui.line("nothing to resume")
        for j in jobs:
            if j.state is JobState.SUCCEEDED:
                ui.print_saved(j)
                continue
            ui.line(lines[j.id], to_err=True)
            step = next_step(j)
            if step:
                ui.hint(step)
        return exit_code_for(jobs)

    raise typer.Exit(run(go()))


@jobs_app.command(
    "list", epilog="Examples:\n\n  veokit jobs list --state failed\n\n  veokit jobs list -q | xargs -n1 veokit open"
)
@cli_errors
def jobs_list(
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            "-s",
            autocompletion=opt.complete_state,
            metavar="STATE",
            help=f"Only jobs in this state (repeatable): {', '.join(s.value for s in JobState)}.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", metavar="N", help="At most this many, newest first.")] = 50,
    as_json: opt.Json = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the job ids, one per line.")] = False,
) -> None:
    """List recorded jobs, newest first, with where each result is."""
    from veokit.service import VeoClient

    try:
        states = [JobState(s) for s in state] if state else None
    except ValueError:
        raise fail(f"--state: unknown state; choose from {', '.join(s.value for s in JobState)}") from None

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            jobs = await client.list_jobs(states=states, limit=limit)
        if as_json:
            ui.print_json([job_view(j) for j in jobs])
        else:
            ui.jobs_table(jobs)

    run(go())


@jobs_app.command(
    "show", epilog="Examples:\n\n  veokit jobs show job_01JD8Z3K2M4N5P6Q7R\n\n  veokit jobs show ID --json"
)
@cli_errors
def jobs_show(job_id: JobId, as_json: opt.Json = False) -> None:
    """One job: request, state history, results and cost."""
    from veokit.service import VeoClient

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            job = await client.get_job(job_id)
            events = await client.events(job_id)
            reused = await client.reused_from(job)
            status = await client.status_line(job)
        if as_json:
            ui.print_json({**job_view(job, events), "reused_from": reused, "next": next_step(job)})
            return
        ui.jobs_table([job], title=None)
        ui.line(ui.cost_line(job))
        if job.state is not JobState.SUCCEEDED:
            ui.line(status)
        if reused:
            ui.line(f"reused the video of {reused} (same request and seed; nothing paid)")
        if job.operation_name:
            ui.line(f"operation: {job.operation_name}")
        ui.events_table(events)
        if job.results:
            ui.result_table(job)
        step = next_step(job)
        if step:
            ui.hint(step)

    run(go())


def _finish_and_report(job: Job) -> None:
    if job.state is JobState.SUCCEEDED:
        ui.print_saved(job)
    check_job(job)


@jobs_app.command("retry", epilog="Examples:\n\n  veokit jobs retry job_01JD8Z3K2M4N5P6Q7R")
@cli_errors
def jobs_retry(job_id: JobId) -> None:
    """Submit a job that needs attention again. It may already have been accepted: you may pay twice."""
    from veokit.service import VeoClient

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            job = await client.retry(job_id)
            ui.info(f"{job.id} queued again; running it")
            with ui.LiveProgress(enabled=True) as live:
                job = await client.wait(job.id, on_progress=live)
            _finish_and_report(job)

    run(go())


@jobs_app.command(
    "reconcile",
    epilog="Examples:\n\n  veokit jobs reconcile job_01JD8Z3K2M4N5P6Q7R "
    "projects/p/locations/us-central1/publishers/google/models/veo-3.1-generate-001/operations/0a1b2c",
)
@cli_errors
def jobs_reconcile(
    job_id: JobId,
    operation: Annotated[
        str,
        typer.Argument(
            metavar="OPERATION", help="The operation name (or task id) you found in the provider's console or logs."
        ),
    ],
) -> None:
    """Attach the operation a job's interrupted submit created, and finish it without paying again."""
    from veokit.service import VeoClient

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            job = await client.reconcile(job_id, operation)
            ui.info(f"{job.id} attached to {operation}; polling it")
            with ui.LiveProgress(enabled=True) as live:
                job = await client.wait(job.id, on_progress=live)
            _finish_and_report(job)

    run(go())


@jobs_app.command("cancel", epilog="Examples:\n\n  veokit jobs cancel job_01JD8Z3K2M4N5P6Q7R")
@cli_errors
def jobs_cancel(job_id: JobId) -> None:
    """Stop a queued or running job: the provider's cancel is called where it has one (fal, Replicate); on Veo
    (Vertex, Gemini API), which has none, the generation goes on there and its cost stands."""
    from veokit.service import VeoClient

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            job = await client.cancel(job_id)
            note = (await client.events(job.id))[-1].message
        ui.out.print(f"{job.id}: {job.state.value} · cost ${job.cost_usd or 0:.2f}", highlight=False)
        ui.err.print(note, highlight=False, soft_wrap=True)

    run(go())


@jobs_app.command("abandon", epilog="Examples:\n\n  veokit jobs abandon job_01JD8Z3K2M4N5P6Q7R")
@cli_errors
def jobs_abandon(job_id: JobId) -> None:
    """Give up on a job (nothing is sent to the provider)."""
    from veokit.service import VeoClient

    async def go() -> None:
        async with VeoClient(load_settings()) as client:
            job = await client.abandon(job_id)
        ui.line(f"{job.id}: {job.state.value}")

    run(go())


EMULATOR_EXAMPLES = """Examples:

  veokit emulator --port 8089 --latency 5

  veokit emulator --state-dir ~/.veokit-emulator --fault submit:http:429@0.1

  veokit emulator --quota 10/min --as-of 2026-06-01
"""


@app.command(epilog=EMULATOR_EXAMPLES)
@cli_errors
def emulator(
    host: Annotated[str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="TCP port to listen on.")] = 8089,
    latency: Annotated[
        float, typer.Option("--latency", metavar="SECONDS", help="Seconds each generation takes.")
    ] = 2.0,
    latency_range: Annotated[
        tuple[float, float] | None,
        typer.Option(
            "--latency-range",
            metavar="LO HI",
            help="Draw each generation's seconds between LO and HI (seeded by --seed) instead of --latency.",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key", metavar="KEY", help="Accepted API key (repeatable). Default: test-key.", show_default=False
        ),
    ] = None,
    token: Annotated[
        list[str] | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help="Accepted bearer token (repeatable). Default: test-token.",
            show_default=False,
        ),
    ] = None,
    retention: Annotated[
        float, typer.Option("--retention", metavar="SECONDS", help="How long generated files can be downloaded.")
    ] = 2 * 86400,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="Emulate the service as of this day (models launched, deprecated, retired). Default: today.",
            show_default=False,
        ),
    ] = None,
    storage_dir: Annotated[
        Path | None,
        typer.Option(
            "--storage-dir",
            metavar="DIR",
            help="Where renders are cached. Default: a temporary folder (the state dir with --state-dir).",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            metavar="DIR",
            help="Keep accepted operations, tasks and their results here, so a restarted emulator still answers "
            "them (renders too, unless --storage-dir says otherwise). Finished work older than --retention is "
            "dropped when it starts.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Seeds latency draws and probabilistic faults.")] = 0,
    quota: Annotated[
        str | None,
        typer.Option(
            "--quota",
            metavar="N/WINDOW",
            help="Submits per credential, e.g. 10/min or 100/hour; then 429. Default: no quota.",
            show_default=False,
        ),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="RULE",
            show_default=False,
            help="ROUTE:KIND[:ARG][@PROBABILITY], repeatable. ROUTE submit|poll|download|*; KIND "
            "http:STATUS, reset:before_body|after_body, stale, truncate:BYTES, corrupt, delay:SECONDS, "
            "outcome:filtered|failed. Without @PROBABILITY a rule fires ONCE (the next matching request), "
            "then is gone; with it, every matching request fires with that probability, for as long as the "
            "emulator runs. E.g. --fault submit:http:429@0.1 --fault download:truncate:50000@0.2",
        ),
    ] = None,
    faults_file: Annotated[
        Path | None,
        typer.Option("--faults-file", metavar="FILE", help="JSON list of admin-API fault rules.", show_default=False),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve HTTPS with a generated self-signed certificate (for clients that only accept https:// "
            "URLs); trust it with SSL_CERT_FILE=<the printed path>.",
        ),
    ] = False,
) -> None:
    """Run the emulator (Vertex AI, Gemini API, Gemini Omni and resellers' wire protocols, real MP4s) until Ctrl-C.

    Point veokit at it with a provider's base URL, e.g. VEOKIT_VERTEX_BASE_URL=http://127.0.0.1:8089 with
    VEOKIT_VERTEX_PROJECT=any and VEOKIT_VERTEX_ACCESS_TOKEN=test-token. (`--provider emulator` needs none of
    this: it runs one in-process.)"""
    from veokit.emulator import EmulatorConfig
    from veokit.emulator.server import serve

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise fail(f"--as-of: {as_of!r} is not a YYYY-MM-DD date") from None
    from veokit.emulator.fault_flags import parse_fault_flag
    from veokit.emulator.faults import FaultSpecError, parse_rule
    from veokit.resilience.gate import parse_rate

    rules: list[dict[str, Any]] = [parse_fault_flag(f) for f in fault or []]
    if faults_file is not None:
        try:
            loaded = json.loads(faults_file.read_text())
        except (OSError, ValueError) as exc:
            raise fail(f"--faults-file: cannot read {faults_file}: {exc}") from None
        rules.extend(loaded if isinstance(loaded, list) else [loaded])
    quota_n, quota_w = parse_rate(quota) if quota else (None, 60.0)
    try:
        for rule in rules:
            parse_rule(rule)
        cfg = EmulatorConfig(
            api_keys=tuple(api_key) if api_key else ("test-key",),
            bearer_tokens=tuple(token) if token else ("test-token",),
            latency_s=latency,
            latency_range_s=latency_range,
            retention_s=retention,
            as_of=day,
            storage_dir=storage_dir,
            state_dir=state_dir,
            seed=seed,
            faults=rules,
            quota_requests=int(quota_n) if quota_n else None,
            quota_window_s=quota_w,
        )
    except (ValueError, FaultSpecError) as exc:
        raise fail(str(exc)) from None
    from veokit.emulator.server import ListenError

    def announce(base_url: str, ca_file: Path | None) -> None:
        ui.err.print(f"veokit emulator on {base_url} (Vertex AI, Gemini API, Omni, Kie, fal, Replicate); Ctrl-C stops")
        if ca_file is not None:
            ui.err.print(f"TLS certificate (trust it with SSL_CERT_FILE): {ca_file}", soft_wrap=True)

    try:
        serve(cfg, host=host, port=port, tls=tls, announce=announce)
    except ListenError as exc:
        hint = "; pick another with --port" if exc.errno == errno.EADDRINUSE else ""
        raise fail(f"{exc.strerror}{hint}") from None


def _register_command_groups() -> None:
    # Command groups live in their own modules so each stays small; each adds its commands to `app`.
    from veokit.cli import agent_cmds, config_cmds, film_cmds, server_cmds, view_cmds, worker_cmds

    worker_cmds.register(app)
    view_cmds.register(app)
    config_cmds.register(app)
    agent_cmds.register(app)
    server_cmds.register(app)
    film_cmds.register(app)


_register_command_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
