"""`veokit film plan|render|pick`: storyboards on the command line (see :mod:`veokit.service.film`).

A bad storyboard is one line naming the file, line, shot and field, and exit code 2, before anything is paid.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from veokit import errors as E
from veokit.cli import output as ui
from veokit.cli import tables
from veokit.cli.failures import cli_errors, fail
from veokit.cli.options import provider_option
from veokit.cli.tables import Column
from veokit.config import PROVIDERS, load_settings

if TYPE_CHECKING:  # imported by the commands that use them: `veokit --help` stays light
    from veokit.models.film_plan import FilmPlan

film_app = typer.Typer(
    help="Films from storyboards: plan (check and price), render (resumable), pick takes.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

StoryboardFile = Annotated[
    Path,
    typer.Argument(metavar="STORYBOARD", help="The storyboard: YAML or JSON (docs/storyboard.schema.json, examples/)."),
]
Provider = Annotated[
    str | None,
    provider_option(
        f"Run every shot on this provider ({', '.join(PROVIDERS)}), whatever the storyboard says. "
        "Default: each shot's own, else the storyboard's defaults, else VEOKIT_PROVIDER."
    ),
]
Json = Annotated[bool, typer.Option("--json", help='Print JSON on stdout (errors too, as {"error": …}).')]
Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Folder for the film. Default: VEOKIT_OUT_DIR/<storyboard name>.",
        show_default=False,
    ),
]

PLAN_EXAMPLES = """Examples:

  veokit film plan examples/last-train.yaml

  veokit film plan board.yaml --provider kie --json
"""
RENDER_EXAMPLES = """Examples:

  veokit film render examples/last-train.yaml --provider emulator

  veokit film render board.yaml --max-cost 10
"""
PICK_EXAMPLES = """Examples:

  veokit film pick board.yaml platform 2

  veokit film pick board.yaml platform 2 --no-render
"""


def register(app: typer.Typer) -> None:
    app.add_typer(film_app, name="film")


def _default_out(file: Path) -> Path:
    return load_settings().out_dir / file.stem


def _plan_table(plan: FilmPlan) -> None:
    """One row per shot; at 80 columns the shot id and prices stay whole, the continuity and model are cut."""
    providers = {s.provider for s in plan.shots}
    columns = [
        Column("shot"),
        Column("continuity", shrink=10, drop=3),
        Column("model", shrink=12, drop=2),
        Column("s", right=True),
        Column("takes", right=True),
        Column("pick", right=True, drop=4),
        Column("$/take", right=True, drop=5),
        Column("price", right=True),
    ]
    rows = [
        [
            row["shot"],
            row["continuity"],
            row["model"] if len(providers) == 1 else f"{row['provider']} {row['model']}",
            str(row["seconds"]),
            str(row["takes"]),
            str(row["pick"]),
            f"${row['usd_per_take']:.2f}",
            f"${row['usd']:.2f}",
        ]
        for row in plan.rows()
    ]
    tables.render(ui.out, columns, rows, title=plan.title)


@film_app.command("plan", epilog=PLAN_EXAMPLES)
@cli_errors
def plan_cmd(file: StoryboardFile, provider: Provider = None, as_json: Json = False) -> None:
    """Check every shot against the catalog and the continuity rules and price the film (nothing is sent)."""
    from veokit.service import VeoClient

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
    _plan_table(plan)
    ui.info(
        f"{len(plan.shots)} shots on {', '.join(sorted({s.provider for s in plan.shots}))}, {plan.takes} takes, "
        f"{plan.film_seconds:.2f} s of film: ${plan.total_usd:.2f} if every take is rendered; nothing was sent"
    )
    where = f" --provider {provider}" if provider else ""
    free = "" if provider == "emulator" else " (add --provider emulator to try it free, with synthetic video)"
    ui.info(f"next: `veokit film render {file}{where}` renders it{free}")


@film_app.command("render", epilog=RENDER_EXAMPLES)
@cli_errors
def render_cmd(
    file: StoryboardFile,
    provider: Provider = None,
    out: Out = None,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            metavar="USD",
            help="Refuse, before paying anything, if what is left to render costs more. Budget caps "
            "(VEOKIT_BUDGET_*) apply too.",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Render the takes the film is missing (independent shots in parallel), then stitch the chosen takes
    into film.mp4 with film.otio and a contact sheet. Rerun after a kill or an edit: it continues, never paying
    twice, and renders only edited shots and the shots that follow them."""
    from veokit.service import VeoClient

    target = out or _default_out(file)

    async def go() -> dict[str, Any]:
        async with VeoClient(load_settings()) as client:
            st = await client.film_status(file, provider=provider)
            todo = len(st.unrecorded())
            if not as_json:
                ui.line(  # the title is the user's text: never read as markup
                    f"{st.plan.title}: {todo} of {st.plan.takes} takes to render, ${st.to_pay_usd:.2f} "
                    f"(film total ${st.plan.total_usd:.2f})",
                    to_err=True,
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

    again = f"`veokit film render {file}" + (f" --provider {provider}" if provider else "") + "`"
    try:
        view = asyncio.run(go())
    except KeyboardInterrupt:
        raise fail("interrupted", E.ExitCode.INTERRUPTED, hint=f"{again} continues; nothing is paid twice") from None
    except E.VeokitError as exc:
        if exc.exit_code == E.ExitCode.BAD_INPUT:
            raise  # the storyboard or a cap: the message says what to change
        raise fail(
            exc.message,
            exc.exit_code,
            hint=f"{again} continues where this run stopped; takes already made are not paid again",
            error=exc.to_dict(),
        ) from None
    if as_json:
        ui.print_json(view)
        return
    for line in (
        f"film: {view['video']} ({view['duration_s']:.2f} s)",
        f"timeline: {view['timeline']}",
        f"contact sheet: {view['contact_sheet']} and {view['page']}",
    ):
        ui.out.print(line, soft_wrap=True, highlight=False, markup=False)


@film_app.command("pick", epilog=PICK_EXAMPLES)
@cli_errors
def pick_cmd(
    file: StoryboardFile,
    shot: Annotated[str, typer.Argument(metavar="SHOT", help="The shot's id (`veokit film plan` lists them).")],
    take: Annotated[int, typer.Argument(metavar="TAKE", help="The take to use: 1 to the shot's takes.")],
    provider: Provider = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before re-rendering what follows.")] = False,
    render: Annotated[
        bool, typer.Option("--render/--no-render", help="Re-render the shots that follow it now (default).")
    ] = True,
    out: Out = None,
) -> None:
    """Choose a take of a shot (written into the storyboard as `pick`). The shots that continue it follow the
    chosen take, so they are re-rendered: their price is shown, and asked about, first."""
    from veokit.service import VeoClient

    async def preview() -> Any:
        async with VeoClient(load_settings()) as client:
            return await client.film_pick(file, shot, take, provider=provider, write=False)

    p = asyncio.run(preview())
    if p.previous == take:
        ui.line(f"{shot}: take {take} is already the chosen take; nothing changes")
        return
    if p.to_render:
        takes = ", ".join(f"{s} take {n}" for s, n in p.to_render)
        ui.line(
            f"{shot}: take {p.previous} -> {take}; the shots that follow it ({', '.join(p.dependents)}) need "
            f"{len(p.to_render)} new take(s): {takes}, ${p.usd:.2f}"
        )
        if not yes and render:  # only rendering pays; recording the pick alone costs nothing
            if not sys.stdin.isatty():
                raise fail("re-rendering costs money: pass --yes to confirm (or --no-render to only record the pick)")
            if not typer.confirm("Record the pick and render them?", default=False):
                raise fail(
                    "not confirmed: nothing changed",
                    1,
                    hint=f"`veokit film pick {file} {shot} {take} --no-render` records the pick without rendering",
                )
    else:
        what = f"the shots that follow it ({', '.join(p.dependents)}) are" if p.dependents else "nothing follows it;"
        ui.line(f"{shot}: take {p.previous} -> {take}; {what} already rendered: $0.00")

    async def record() -> None:
        async with VeoClient(load_settings()) as client:
            await client.film_pick(file, shot, take, provider=provider, write=True)

    asyncio.run(record())
    ui.line(f"{file}: shot {shot} now uses take {take}")
    if render:
        render_cmd(file, provider=provider, out=out, max_cost=None, as_json=False)
