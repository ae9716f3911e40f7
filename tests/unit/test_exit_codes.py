"""Exit codes come from the error classes, one mapping for every command: one job or many, `veokit` or its agent."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from veokit import errors as E
from veokit.cli.failures import cli_errors
from veokit.models.job import JobState
from veokit.service.outcome import exit_code_for, job_error, raise_for_job

from .test_errors import build, error_classes, job_in


def test_exit_codes_are_the_documented_ones() -> None:
    assert E.SubmitOutcomeUnknown.exit_code == E.NeedsAttention.exit_code == 6  # needs your decision
    assert E.ContentFiltered.exit_code == 4 and E.DeadlineExceeded.exit_code == 5
    assert E.BudgetExceeded.exit_code == E.ConfigError.exit_code == E.InvalidRequest.exit_code == 2
    for cls in (E.ProviderError, E.NetworkError, E.ResponseTruncated, E.DownloadError, E.CorruptMediaError):
        assert cls.exit_code == 3
    for cls in (E.StoreUnavailable, E.StoreLocked, E.StoreCorrupt, E.StoreReadOnly, E.DiskFull):
        assert cls.exit_code == 7  # this machine's database or disk
    documented = {0, 2, 3, 4, 5, 6, 7, 130}
    assert {int(c) for c in E.ExitCode} == documented | {1}  # 1: internal errors (and doctor's findings)


def test_most_pressing() -> None:
    assert E.most_pressing([]) == 0 and E.most_pressing([0, 0]) == 0
    assert E.most_pressing([0, 4, 3]) == 3
    assert E.most_pressing([4, 3, 2]) == 2
    assert E.most_pressing([2, 5]) == 5
    assert E.most_pressing([5, 6, 2]) == 6
    assert E.most_pressing([6, 7, 3]) == 7  # nothing can go on until the database or disk is fixed


@pytest.mark.parametrize(
    ("state", "error", "code"),
    [
        (JobState.SUCCEEDED, None, 0),
        (JobState.FILTERED, E.ContentFiltered("filtered", reasons=["x"]), 4),
        (JobState.FAILED, E.ServerError("500"), 3),
        (JobState.FAILED, E.DownloadExpired("gone"), 3),
        (JobState.NEEDS_ATTENTION, E.SubmitOutcomeUnknown("reset after send"), 6),
        (JobState.NEEDS_ATTENTION, E.DeadlineExceeded("still running"), 5),
        (JobState.NEEDS_ATTENTION, E.AuthenticationError("revoked"), 3),  # the same 3 `generate` exits with
        (JobState.NEEDS_ATTENTION, None, 6),
        (JobState.QUEUED, E.BudgetExceeded("over the daily cap", cap="daily"), 2),
        (JobState.ABANDONED, E.SubmitOutcomeUnknown("reset after send"), 2),  # decided: no longer needs you
    ],
)
def test_a_job_exits_with_the_code_of_the_error_it_raises(
    state: JobState, error: E.VeokitError | None, code: int
) -> None:
    job = job_in(state, error=error)
    assert exit_code_for([job]) == code
    if code == 0:
        assert raise_for_job(job) is job and job_error(job) is None
    else:
        with pytest.raises(E.VeokitError) as info:
            raise_for_job(job)
        assert info.value.exit_code == code


def test_many_jobs_exit_with_the_most_pressing_code() -> None:
    ok, filtered = job_in(JobState.SUCCEEDED), job_in(JobState.FILTERED, error=E.ContentFiltered("no"))
    unknown = job_in(JobState.NEEDS_ATTENTION, error=E.SubmitOutcomeUnknown("?"))
    blocked = job_in(JobState.QUEUED, error=E.BudgetExceeded("cap"))
    assert exit_code_for([ok, ok]) == 0
    assert exit_code_for([ok, filtered]) == 4
    assert exit_code_for([ok, filtered, blocked]) == 2
    assert exit_code_for([blocked, unknown, filtered]) == 6


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_the_cli_exits_with_the_code_each_class_carries(cls: type[E.VeokitError]) -> None:
    """One wrapper (`veokit` and `veokit agent|mcp` alike) and no special cases: the class decides."""
    app = typer.Typer()

    @app.command()
    @cli_errors
    def boom() -> None:
        raise build(cls)

    result = CliRunner().invoke(app, [])
    assert result.exit_code == cls.exit_code
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # One line; a storyboard's problems (all found in one pass) one line each below it, as config problems are.
    listed = [p.message for p in build(cls).problems] if cls is E.StoryboardError else []
    extra = [f"  {m}" for m in listed] if len(listed) > 1 else []
    assert lines[0].startswith("error: ") and lines[1:] == extra and "Traceback" not in result.output
