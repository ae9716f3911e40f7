"""Every command's `--help`, as an 80-column terminal shows it: it fits, describes every option, and shows examples.

Walks the whole command tree, so a command added later is held to the same rules without a new test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from veokit.cli.main import app

WIDTH = 80
TYPE_LABEL = re.compile(r"^\s+(-\w, )?--[\w-]+(/--[\w-]+)? <")  # "--port <int>": an option left without a metavar


def commands() -> Iterator[tuple[str, Any]]:
    # Typer carries its own copy of click: its classes are not `click`'s, so groups are told by what they do.
    def walk(prefix: list[str], cmd: Any) -> Iterator[tuple[str, Any]]:
        if hasattr(cmd, "list_commands"):
            for name in cmd.list_commands(None):
                yield from walk([*prefix, name], cmd.get_command(None, name))
        else:
            yield " ".join(prefix), cmd

    yield from walk([], typer.main.get_command(app))


COMMANDS = dict(commands())


def test_the_walk_sees_the_newer_commands() -> None:
    for name in ("serve", "keys create", "keys list", "film render", "worker", "batch", "emulator", "config show"):
        assert name in COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_fits_describes_every_option_and_has_examples(name: str) -> None:
    result = CliRunner().invoke(app, [*name.split(), "--help"], terminal_width=WIDTH, env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    text = result.output
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, f"`veokit {name} --help` past column {WIDTH}:\n" + "\n".join(wide)
    assert "Examples:" in text, f"`veokit {name} --help` shows no example"
    labelled = [line for line in text.splitlines() if TYPE_LABEL.match(line)]
    assert not labelled, f"`veokit {name} --help`: options without a metavar:\n" + "\n".join(labelled)
    for param in COMMANDS[name].params:
        if param.param_type_name == "option" and not param.hidden and "--help" not in param.opts:
            assert param.help, f"`veokit {name}`: {param.opts[0]} is not described"
