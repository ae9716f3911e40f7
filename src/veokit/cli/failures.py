"""How every `veokit` command fails: one readable line on stderr, what to do next, and the exit code of the
error's class (:class:`veokit.errors.ExitCode`); never a traceback unless ``VEOKIT_DEBUG`` asks for one.

With ``--json`` the error is also printed on stdout as ``{"error": {...}}`` (the exit code is the same), so a
script that reads stdout always gets a JSON document.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from veokit import errors as E
from veokit.cli import output as ui
from veokit.models.job import Job
from veokit.service import environment_fault, job_error, next_step

T = TypeVar("T")


class JobEnded(Exception):
    """A command's job ended without its videos: the error it recorded and the next step."""

    def __init__(self, error: E.VeokitError, hint: str | None, *, shown: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.hint = hint
        self.shown = shown  # already printed as JSON (the job view carries the error)


def check_job(job: Job, *, shown: bool = False) -> Job:
    """The job, if it succeeded; else :class:`JobEnded` with what to do next."""
    err = job_error(job)
    if err is None:
        return job
    raise JobEnded(err, next_step(job), shown=shown)


def fail(
    message: str,
    code: int = E.ExitCode.BAD_INPUT,
    *,
    hint: str | None = None,
    error: dict[str, Any] | None = None,
    shown: bool = False,
    inline: bool | None = None,
) -> typer.Exit:
    if ui.mode.json and not shown and not ui.mode.json_printed:  # stdout holds one JSON document, never two
        record = dict(error or {"type": "UsageError", "message": message})
        ui.print_json({"error": {**record, "exit_code": int(code), "next": hint}})
    # The message is data (it may quote `veokit[agent]` or a prompt): escape it, style only the label.
    # Bad input stays one line (the next step joins it); a job's failure says what next on a line of its own.
    joined = f" (next: {hint})" if hint and (inline if inline is not None else code == E.ExitCode.BAD_INPUT) else ""
    ui.err.print(f"[bold red]error:[/] {escape(message + joined)}", highlight=False, markup=True, soft_wrap=True)
    if hint and not joined:
        ui.hint(hint)
    return typer.Exit(int(code))


def cli_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Every veokit error becomes one readable line, its next step, and its class's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        ui.mode.json = bool(kwargs.get("as_json"))
        if kwargs.get("quiet"):
            ui.mode.quiet = True
        try:
            return fn(*args, **kwargs)
        except JobEnded as exc:
            raise fail(
                exc.error.message, exc.error.exit_code, hint=exc.hint, error=exc.error.to_dict(), shown=exc.shown
            ) from None
        except E.VeokitError as exc:
            # One line, its next step included: the error came from one call, not from a job with a history.
            raise fail(_message(exc), exc.exit_code, hint=_hint_for(exc), error=exc.to_dict(), inline=True) from None
        except KeyboardInterrupt:
            raise fail(
                "interrupted",
                E.ExitCode.INTERRUPTED,
                hint="`veokit resume` finishes unfinished jobs without paying again",
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


def _message(exc: E.VeokitError) -> str:
    """The error's line; a storyboard's problems one line each, as config problems are (all found in one pass)."""
    if isinstance(exc, E.StoryboardError) and len(exc.problems) > 1:
        lines = "\n".join(f"  {p.message}" for p in exc.problems)
        return f"the storyboard has {len(exc.problems)} problems:\n{lines}"
    return exc.message


def _hint_for(exc: E.VeokitError) -> str | None:
    """The next step for an error that is not about one job (those come with :func:`check_job`)."""
    if isinstance(exc, E.JobNotFound):
        return "`veokit jobs list` shows the recorded jobs"
    if isinstance(exc, E.KeyNameError):
        return "`veokit keys list` shows the keys; a revoked key keeps its name"
    if isinstance(exc, E.ModelNotFound):
        return "`veokit models` lists the models each provider sells"
    if isinstance(exc, E.BudgetExceeded) and exc.cap == "film":
        return "raise --max-cost, or see what each shot costs with `veokit film plan FILE`; nothing was sent"
    if isinstance(exc, E.BudgetExceeded):
        return "`veokit costs` shows today's spend against the caps (VEOKIT_BUDGET_*); nothing was sent"
    if isinstance(exc, E.ConfigError) and exc.reason == "proxy_env":  # veokit.providers.proxy_env.PROXY_ENV
        return "correct that variable or unset it; nothing was sent"
    if isinstance(exc, E.ConfigError):
        return "`veokit config show` shows each setting and where it comes from"
    if isinstance(exc, E.AuthenticationError | E.PermissionDenied | E.BillingError | E.QuotaExhausted):
        return "`veokit doctor` checks each provider's credentials, models and balance"
    return None
