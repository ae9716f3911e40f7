"""What to do next about a job, as the exact command: every surface that reports a job's end says it the same way.

A job that did not produce its videos always has a next step (resume it, reconcile it, rephrase it, start a
worker); a message that only says what went wrong leaves the user to guess. :func:`status_line` is the one
line a surface prints for a job that ended, and it never ends in an empty reason.
"""

from __future__ import annotations

import datetime as dt

from veokit import errors as E
from veokit.models.job import Job, JobState, utcnow
from veokit.service.outcome import job_error


def held_elsewhere(job: Job, now: dt.datetime | None = None) -> bool:
    """Whether another live process holds the job's lease (it is running there, not stuck)."""
    return (
        job.state.active
        and job.lease_owner is not None
        and job.lease_expires_at is not None
        and job.lease_expires_at > (now or utcnow())
    )


def next_step(job: Job, now: dt.datetime | None = None) -> str | None:
    """The command(s) that move ``job`` on, or ``None`` when it is done (or given up on)."""
    jid = job.id
    if job.state is JobState.SUCCEEDED:
        return None
    if job.state is JobState.ABANDONED:
        return None
    if job.state is JobState.FILTERED:
        return (
            f"cost ${job.cost_usd or 0:.2f} (filtered videos are not billed); rephrase the prompt, or run it again "
            "with `--retry-filtered N` to resubmit up to N times"
        )
    if job.state is JobState.QUEUED:
        return "a worker runs queued jobs: start one with `veokit worker` (or `veokit resume` runs them here)"
    if held_elsewhere(job, now):
        assert job.lease_expires_at is not None
        until = job.lease_expires_at.astimezone(dt.UTC).strftime("%H:%M:%S UTC")
        return f"another process ({job.lease_owner}, lease until {until}) is running it; `veokit jobs show {jid}`"
    if job.state.active:
        return f"`veokit resume {jid}` finishes it without paying again"
    err = job_error(job)
    if job.state is JobState.NEEDS_ATTENTION:
        if job.operation_name or isinstance(err, E.DeadlineExceeded):
            return f"`veokit resume {jid}` keeps waiting for it; `veokit jobs abandon {jid}` gives up"
        return (
            f"if the provider's console shows the operation this submit created: `veokit jobs reconcile {jid} "
            f"OPERATION` (no new charge); otherwise `veokit jobs retry {jid}` (may pay twice) or "
            f"`veokit jobs abandon {jid}`"
        )
    if isinstance(err, E.DownloadError) and not isinstance(err, E.DownloadExpired):
        return f"`veokit resume {jid}` tries the download again"
    if err is not None and err.retryable:
        return f"try again later; `veokit jobs show {jid}` has the details"
    return f"`veokit jobs show {jid}` has the details"


def reason(job: Job, events_last_message: str = "") -> str:
    """Why the job is where it is, never empty: its error, else the last recorded event, else its state."""
    err = job.error or {}
    text = str(err.get("message") or "").strip()
    if text:
        return text
    if job.state is JobState.NEEDS_ATTENTION and events_last_message:
        return events_last_message
    if held_elsewhere(job):
        return "running in another process"
    return {
        JobState.QUEUED: "waiting for a worker",
        JobState.SUBMITTING: "submit in progress",
        JobState.RUNNING: "generating",
        JobState.DOWNLOADING: "downloading",
        JobState.NEEDS_ATTENTION: "needs your decision",
        JobState.ABANDONED: "abandoned",
        JobState.SUCCEEDED: "done",
        JobState.FAILED: "failed",
        JobState.FILTERED: "blocked by the safety filter",
    }[job.state]


def status_line(job: Job, last_event: str = "") -> str:
    """``job_…: needs_attention: <why>`` — the line a surface prints for a job that did not succeed."""
    return f"{job.id}: {job.state.value}: {reason(job, last_event)}"
