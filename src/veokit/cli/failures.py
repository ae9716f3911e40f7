"""How every `veokit` command fails: one readable line on stderr and the exit code of the error's class
(:class:`veokit.errors.ExitCode`); never a traceback unless ``VEOKIT_DEBUG`` asks for one."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from veokit import errors as E
from veokit.cli import output as ui
from veokit.service import environment_fault

T = TypeVar("T")


def fail(message: str, code: int = E.ExitCode.BAD_INPUT) -> typer.Exit:
    # The message is data (it may quote `veokit[agent]` or a prompt): escape it, style only the label.
    ui.err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(int(code))


def cli_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Every veokit error becomes one readable line and its class's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except E.VeokitError as exc:
            raise fail(exc.message, exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted; `veokit resume` finishes unfinished jobs without paying again", E.ExitCode.INTERRUPTED
            ) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # the machine's fault (named), else a bug of ours: still one line
            if (fault := environment_fault(exc)) is not None:
                raise fail(fault.message, fault.exit_code) from None
            if os.environ.get("VEOKIT_DEBUG"):
                raise
            raise fail(
                f"internal error ({type(exc).__name__}: {E.redact(str(exc))[:300]}); rerun with "
                "VEOKIT_DEBUG=1 for the traceback and please report it",
                E.ExitCode.ERROR,
            ) from None

    return wrapper
