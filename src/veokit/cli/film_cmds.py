"""`veokit film plan|render|pick`: storyboards on the command line (see :mod:`veokit.service.film`).

A bad storyboard is one line naming the file, line, shot and field, and exit code 2, before anything is paid.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from veokit.cli import output as ui
from veokit.cli.failures import cli_errors, fail
from veokit.config import load_settings
from veokit.models.film_plan import FilmPlan
from veokit.service import VeoClient

film_app = typer.Typer(help="Films from storyboards: plan, render, pick takes.", no_args_is_help=True)

StoryboardFile = Annotated[Path, typer.Argument(help="The storyboard (YAML or JSON; docs/storyboard.schema.json).")]
Provider = Annotated[str | None, typer.Option("--provider", "-p", help="Render every shot on this provider.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(film_app, name="film")


def _default_out(file: Path) -> Path:
    return load_settings().out_dir / file.stem


def _plan_table(plan: FilmPlan) -> Table:
    table = Table(title=plan.title, show_lines=False)
    for col in ("shot", "continuity", "model", "s", "takes", "pick", "$/take", "price"):
        table.add_column(col, overflow="fold", no_wrap=col not in ("continuity", "model"))
    providers = {s.provider for s in plan.shots}
    for row in plan.rows():
        model = row["model"] if len(providers) == 1 else f"{row['provider']} {row['model']}"
        table.add_row(
            row["shot"],
            row["continuity"],
            model,
            str(row["seconds"]),
            str(row["takes"]),
            str(row["pick"]),
            f"${row['usd_per_take']:.2f}",
            f"${row['usd']:.2f}",
        )
    return table


@film_app.command("plan")
@cli_errors
def plan_cmd(file: StoryboardFile, provider: Provider = None, as_json: Json = False) -> None:
    """Check every shot against the catalog and the continuity rules and price the film (nothing is sent)."""
    client = VeoClient(load_settings())
    try:
        plan = client.film_plan(file, provider=provider)
    finally:
        asyncio.run(client.aclose())
    if as_json:
        ui.print_json(
            {
                "title": plan.title,
                "shots": plan.rows(),
                "takes": plan.takes,
                "total_usd": plan.total_usd,
                "film_seconds": round(plan.film_seconds, 3),
                "warnings": list(plan.warnings),
            }
        )
        return
    for warning in plan.warnings:
        ui.err.print(f"warning: {warning}", soft_wrap=True, highlight=False, markup=False)
    ui.out.print(_plan_table(plan))
    ui.out.print(
        f"{len(plan.shots)} shots on {', '.join(sorted({s.provider for s in plan.shots}))}, {plan.takes} takes, "
        f"{plan.film_seconds:.2f} s of film: "
        f"${plan.total_usd:.2f} if every take is rendered; nothing was sent",
        soft_wrap=True,
        highlight=False,
    )


@film_app.command("render")
@cli_errors
def render_cmd(
    file: StoryboardFile,
    provider: Provider = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the film (default: out_dir/NAME).")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Refuse if what is left to render costs more (USD).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Render the takes the film is missing (independent shots in parallel), then stitch the chosen takes
    into film.mp4 with film.otio and a contact sheet. Rerun after a kill or an edit: it continues, never paying
    twice, and renders only edited shots and the shots that follow them."""
    target = out or _default_out(file)

    async def go() -> dict[str, Any]:
        async with VeoClient(load_settings()) as client:
            st = await client.film_status(file, provider=provider)
            todo = len(st.unrecorded())
            if not as_json:
                ui.err.print(
                    f"{st.plan.title}: {todo} of {st.plan.takes} takes to render, ${st.to_pay_usd:.2f} "
                    f"(film total ${st.plan.total_usd:.2f})",
                    soft_wrap=True,
                    highlight=False,
                )

            def event(line: str) -> None:
                if not as_json:
                    ui.err.print(line, soft_wrap=True, highlight=False, markup=False)

            result = await client.film_render(
                file, out_dir=target, provider=provider, max_cost_usd=max_cost, on_event=event
            )
        return {
            **result.status.view(),
            "video": str(result.video),
            "timeline": str(result.timeline),
            "contact_sheet": str(result.sheet_png),
            "page": str(result.sheet_html),
            "duration_s": round(result.duration_s, 3),
            "recorded": result.recorded,
        }

    view = asyncio.run(go())
    if as_json:
        ui.print_json(view)
        return
    for line in (
        f"film: {view['video']} ({view['duration_s']:.2f} s)",
        f"timeline: {view['timeline']}",
        f"contact sheet: {view['contact_sheet']} and {view['page']}",
    ):
        ui.out.print(line, soft_wrap=True, highlight=False, markup=False)


@film_app.command("pick")
@cli_errors
def pick_cmd(
    file: StoryboardFile,
    shot: Annotated[str, typer.Argument(help="The shot id.")],
    take: Annotated[int, typer.Argument(help="The take to use (1-based).")],
    provider: Provider = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before re-rendering what follows.")] = False,
    render: Annotated[
        bool, typer.Option("--render/--no-render", help="Re-render the shots that follow it now (default).")
    ] = True,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for the film (default: out_dir/NAME).")
    ] = None,
) -> None:
    """Choose a take of a shot (written into the storyboard as `pick`). The shots that continue it follow the
    chosen take, so they are re-rendered: their price is shown, and asked about, first."""

    async def preview() -> Any:
        async with VeoClient(load_settings()) as client:
            return await client.film_pick(file, shot, take, provider=provider, write=False)

    p = asyncio.run(preview())
    if p.previous == take:
        ui.out.print(f"{shot}: take {take} is already the chosen take; nothing changes", highlight=False)
        return
    if p.to_render:
        takes = ", ".join(f"{s} take {n}" for s, n in p.to_render)
        ui.out.print(
            f"{shot}: take {p.previous} -> {take}; the shots that follow it ({', '.join(p.dependents)}) need "
            f"{len(p.to_render)} new take(s): {takes}, ${p.usd:.2f}",
            soft_wrap=True,
            highlight=False,
        )
        if not yes and render:  # only rendering pays; recording the pick alone costs nothing
            if not sys.stdin.isatty():
                raise fail("re-rendering costs money: pass --yes to confirm (or --no-render to only record the pick)")
            if not typer.confirm("Record the pick and render them?", default=False):
                raise typer.Exit(1)
    else:
        what = f"the shots that follow it ({', '.join(p.dependents)}) are" if p.dependents else "nothing follows it;"
        ui.out.print(f"{shot}: take {p.previous} -> {take}; {what} already rendered: $0.00", highlight=False)

    async def record() -> None:
        async with VeoClient(load_settings()) as client:
            await client.film_pick(file, shot, take, provider=provider, write=True)

    asyncio.run(record())
    ui.out.print(f"{file}: shot {shot} now uses take {take}", highlight=False, soft_wrap=True)
    if render:
        render_cmd(file, provider=provider, out=out, max_cost=None, as_json=False)
