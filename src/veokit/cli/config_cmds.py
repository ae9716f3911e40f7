"""`veokit config show` (and where the config file is): what veokit will use, and why."""

from __future__ import annotations

from typing import Annotated

import typer

from veokit.cli import output as ui
from veokit.cli import tables
from veokit.cli.failures import cli_errors
from veokit.cli.tables import Column
from veokit.config import config_file, load_settings
from veokit.service.settings_view import effective_settings

config_app = typer.Typer(
    help="See the effective configuration and where each value comes from.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    config_app.command("show", epilog="Examples:\n\n  veokit config show\n\n  veokit config show --all --json")(
        cli_errors(show)
    )
    config_app.command("path")(cli_errors(path))
    app.add_typer(config_app, name="config")


def show(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also settings left at their default.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Each setting's effective value and its source: flag, env, .env, config file or default (secrets masked)."""
    rows = effective_settings(load_settings())
    if as_json:
        ui.print_json([r.__dict__ for r in rows])
        return
    shown = [r for r in rows if all_ or r.source != "default"]
    columns = [Column("setting"), Column("value", shrink=30), Column("source", shrink=10), Column("env", drop=2)]
    tables.render(ui.out, columns, [[r.name, r.value, r.source, r.env] for r in shown], title="veokit settings")
    if not all_:
        ui.info(f"config file: {config_file()} · `veokit config show --all` lists the defaults too")


def path() -> None:
    """Print where the TOML config file is read from (VEOKIT_CONFIG moves it)."""
    ui.line(str(config_file()))
