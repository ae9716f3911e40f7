"""What a job's end means to whoever asked for it: the error it ended with, and the exit code of a command.

The error is the one the job recorded, rebuilt as its own type (:func:`veokit.errors.from_dict`), so a
command that ran one job and a command that ran a thousand map outcomes to exit codes the same way: through
the error classes (:attr:`veokit.errors.VeokitError.exit_code`).
"""

from __future__ import annotations

from collections.abc import Iterable

from veokit import errors as E
from veokit.models.job import Job, JobState


def job_error(job: Job) -> E.VeokitError | None:
    """Why the job has not (yet) produced its videos; ``None`` once it has."""
    if job.state is JobState.SUCCEEDED:
        return None
    if job.state is JobState.ABANDONED:  # the user's decision: what went wrong before it no longer matters
        return E.JobStateError(f"job {job.id} was abandoned")
    err = E.from_record(job.error)
    if err is not None:
        return err
    if job.state is JobState.NEEDS_ATTENTION:
        return E.NeedsAttention(f"job {job.id} needs your decision: `veokit jobs show {job.id}`")
    return E.JobStateError(f"job {job.id} is {job.state.value}")


def raise_for_job(job: Job) -> Job:
    """The job, if it succeeded; else the error it ended with, raised."""
    err = job_error(job)
    if err is not None:
        raise err
    return job


def exit_code_for(jobs: Iterable[Job]) -> E.ExitCode:
    """The exit code of a command that ran ``jobs``: 0 when every one succeeded, else the most pressing."""
    return E.most_pressing(err.exit_code if (err := job_error(j)) else E.ExitCode.OK for j in jobs)


def environment_fault(exc: BaseException) -> E.EnvironmentFault | None:
    """What an exception no layer named means, when it is this machine's fault (a database that is locked,
    unreachable, corrupt or read-only; a full disk; a denied path): the surfaces say it in one line with its
    exit code instead of calling it an internal error. ``None`` for anything else (a real bug)."""
    # Imported here: it reads SQLAlchemy's exceptions, and a CLI start-up (`veokit --help`) must not load it.
    from veokit.store import faults

    if isinstance(exc, E.EnvironmentFault):
        return exc
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        where = str(exc.filename) if exc.filename else "local disk"
        return faults.from_os_error(exc, where)
    return faults.classify(exc, "job database")
