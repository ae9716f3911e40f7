"""`veokit config show` (and where the config file is): what veokit will use, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from veokit.cli import output as ui
from veokit.cli import tables
from veokit.cli.failures import cli_errors, fail
from veokit.cli.options import provider_option
from veokit.cli.tables import Column
from veokit.config import PROVIDERS, Settings, config_file, load_settings

config_app = typer.Typer(
    help="See the effective configuration and where each value comes from.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    config_app.command("show", epilog=SHOW_EXAMPLES)(cli_errors(show))
    config_app.command("path", epilog='Examples:\n\n  ${EDITOR:-vi} "$(veokit config path)"')(cli_errors(path))
    app.add_typer(config_app, name="config")


SHOW_EXAMPLES = """Examples:

  veokit config show

  veokit config show --all --json

  veokit config show --provider kie --set budget_daily_usd=5    # what `generate --provider kie` would use
"""


def _flags(provider: str | None, model: str | None, out: Path | None, pairs: list[str] | None) -> dict[str, Any]:
    """The settings the given flags set, by field name (``--set`` takes any setting, by its config-file name)."""
    given: dict[str, Any] = {"provider": provider, "model": model, "out_dir": out}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        name = name.strip().lower().removeprefix("veokit_")
        if not sep or name not in Settings.model_fields:
            raise fail(f"--set: {pair!r} is not NAME=VALUE with NAME a setting (`veokit config show --all` lists them)")
        given[name] = value
    return {k: v for k, v in given.items() if v is not None}


def show(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also settings left at their default.")] = False,
    provider: Annotated[
        str | None,
        provider_option(f"As if a command were given --provider NAME ({', '.join(PROVIDERS)} or auto)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", metavar="MODEL", help="As if given --model MODEL.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="DIR", help="As if given --out DIR.", show_default=False)
    ] = None,
    pairs: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="NAME=VALUE",
            help="As if a flag set this setting (repeatable; names as in the config file).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout (errors too).")] = False,
) -> None:
    """Each setting's effective value and its source: flag, env, .env, config file or default (secrets masked).

    Flags win over the environment, which wins over .env, then the config file (`veokit config path`), then the
    defaults. The flags given here show what a command given the same flags would use, checked the same way."""
    from veokit.service.settings_view import effective_settings

    flags = _flags(provider, model, out, pairs)
    rows = effective_settings(load_settings(**flags), frozenset(flags))
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
