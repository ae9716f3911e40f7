"""What every tool hands back: Strands-shaped result dicts, one-line errors, and compact views of jobs.

A result is ``{"status": "success"|"error", "content": [...]}``, the shape Strands passes through unchanged.
Success content is a one-line summary (what a model reads first) then a ``{"json": …}`` block with the
facts; errors are one ``{"text": …}`` line naming the field and what is allowed. The MCP adapter maps the
same dicts onto ``CallToolResult``, so both front ends say exactly the same thing.
"""

from __future__ import annotations

import logging
from typing import Any

from veokit import errors as E
from veokit.models.job import Job, JobState
from veokit.service import Progress
from veokit.service import job_view as service_job_view
from veokit.service.next_step import reason
from veokit.service.views import percent

log = logging.getLogger("veokit.agent")

ToolResult = dict[str, Any]
PROMPT_CLIP = 160


def ok(summary: str, data: dict[str, Any]) -> ToolResult:
    return {"status": "success", "content": [{"text": one_line(summary)}, {"json": data}]}


def fail(message: str) -> ToolResult:
    return {"status": "error", "content": [{"text": one_line(message)}]}


def failure_from(exc: BaseException) -> ToolResult:
    """Turn any exception into an error result; never a traceback, never a secret."""
    if isinstance(exc, E.VeokitError):
        return fail(exc.message)  # built from fields we control and already redacted
    # A bug of ours: the model gets one line, the log (stderr) gets the details for whoever runs the server.
    log.error(
        "tool failed: %s: %s", type(exc).__name__, E.redact(str(exc))[:300], exc_info=log.isEnabledFor(logging.DEBUG)
    )
    return fail(f"internal error ({type(exc).__name__}); the veokit log on stderr has details")


def one_line(text: str) -> str:
    return " ".join(E.redact(text).split())


def data_of(result: ToolResult) -> dict[str, Any]:
    """The ``json`` block of a result ({} for errors)."""
    for block in result.get("content", []):
        if "json" in block:
            return dict(block["json"])
    return {}


def text_of(result: ToolResult) -> str:
    return " ".join(str(b["text"]) for b in result.get("content", []) if "text" in b)


# -- views ---------------------------------------------------------------------------------------------------
def job_view(job: Job, *, running_here: bool | None = None) -> dict[str, Any]:
    """What a model reads about a job: the facts of the shared view (:func:`veokit.service.job_view`, inputs
    summarised, never inlined) flattened and clipped for a model's context, plus what to do next."""
    shared = service_job_view(job)
    req = shared["request"]
    prompt = str(req.get("prompt", ""))
    view: dict[str, Any] = {
        "job_id": shared["id"],
        "state": shared["state"],
        "provider": shared["provider"],
        "model": shared["model"],
        "prompt": prompt if len(prompt) <= PROMPT_CLIP else prompt[:PROMPT_CLIP] + "…",
        "aspect_ratio": req.get("aspect_ratio"),
        "resolution": req.get("resolution"),
        "duration_seconds": req.get("duration_seconds"),
        "samples": req.get("sample_count"),
        "extends": bool(req.get("video")),
        "estimate_usd": shared["estimate_usd"],
        "cost_usd": shared["cost_usd"],
        "created_at": shared["created_at"],
        "finished_at": shared["finished_at"],
    }
    if shared["results"]:
        view["videos"] = shared["results"]
    if job.error and job.state is not JobState.SUCCEEDED:
        view["error"] = one_line(str(job.error.get("message", "")))
    if running_here is not None:
        view["running_in_this_process"] = running_here
    view["next"] = next_step(job, running_here)
    return view


def next_step(job: Job, running_here: bool | None) -> str:
    """What to do next, in words a model acts on."""
    s = job.state
    if s is JobState.SUCCEEDED:
        return (
            f"download_video(job_id='{job.id}', destination=…) copies the MP4 where the user wants it; "
            f"extend_video(job_id='{job.id}', prompt=…) continues it by 7 s"
        )
    if s is JobState.FILTERED:
        return "blocked by the safety filter and not charged: rephrase the prompt (or change the images) and retry"
    if s is JobState.FAILED:
        return "nothing was charged; fix what the error names and call generate_video again"
    if s is JobState.ABANDONED:
        return "abandoned by the user; nothing more will happen"
    if s is JobState.CANCELLED:
        return "cancelled; nothing more will happen (its history says what it cost)"
    if s is JobState.NEEDS_ATTENTION:
        return (
            "needs the user's decision (the submit may have been accepted): tell them to run "
            f"`veokit jobs show {job.id}`, then `veokit resume {job.id}`, `veokit jobs retry {job.id}` "
            f"or `veokit jobs abandon {job.id}`"
        )
    if running_here is False:
        return (
            f"another process (or an earlier session) started it: wait_for_video(job_id='{job.id}') follows "
            "it, and finishes it here if that process has gone, never submitting it again"
        )
    return f"wait_for_video(job_id='{job.id}') waits for it (up to its timeout); never submit it again"


def job_summary(job: Job) -> str:
    req = job.request
    shape = (
        f"{job.model} {req.get('aspect_ratio')} {req.get('resolution')} {req.get('duration_seconds')} s"
        f" x{req.get('sample_count', 1)}"
    )
    s = job.state
    if s is JobState.SUCCEEDED:
        files = ", ".join(
            f"{r.path} ({r.width}x{r.height}, {r.duration_s:.1f} s, "
            f"{r.video_codec}{'+' + r.audio_codec if r.audio_codec else ', silent'})"
            for r in job.results
        )
        return f"job {job.id} succeeded ({shape}); cost ${job.cost_usd or 0:.2f}; saved {files}"
    if s is JobState.FILTERED:
        return f"job {job.id} was blocked by the safety filter (not charged): {reason(job)}"
    if s in (JobState.FAILED, JobState.NEEDS_ATTENTION, JobState.ABANDONED):
        return f"job {job.id} is {s.value}: {reason(job)}"
    if s is JobState.CANCELLED:
        return f"job {job.id} was cancelled; cost ${job.cost_usd or 0:.2f}"
    return f"job {job.id} is {s.value} ({shape}; estimate ${job.estimate_usd:.2f})"


def progress_view(
    job_id: str, state: str, p: Progress | None, elapsed_s: float, remaining_s: float | None
) -> dict[str, Any]:
    done = state == JobState.SUCCEEDED.value or (p is not None and p.message == "done")
    eta = "" if done else (f", ~{remaining_s:.0f} s left" if remaining_s and remaining_s >= 1 else "")
    label = p.message if p and p.message else state
    return {
        "job_id": job_id,
        "state": state,
        "elapsed_s": round(elapsed_s, 1),
        "expected_remaining_s": None if remaining_s is None else round(remaining_s, 1),
        "percent": percent(elapsed_s, remaining_s, done=done),
        "message": f"{label}: {elapsed_s:.0f} s elapsed{eta}",
    }
