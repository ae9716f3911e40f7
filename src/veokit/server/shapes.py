"""A job as OpenAI's ``Video`` object, with veokit's own facts under ``veokit`` (the SDK keeps extra fields).

``status`` is strictly OpenAI's four: ``queued``; ``in_progress`` for submitting, running, downloading and
needing attention (an operator may still finish it: a client should keep polling, not give up); ``completed``;
``failed`` for failed, filtered, abandoned and cancelled, with ``error.code`` saying which.
"""

from __future__ import annotations

import re
from typing import Any

from veokit.models.catalog import Catalog
from veokit.models.job import Job, JobEvent, JobState, utcnow
from veokit.server.links import content_url
from veokit.server.requests import size_of
from veokit.service import VeoClient, request_view
from veokit.service.views import percent

S = JobState
STATUS = {
    S.QUEUED: "queued",
    S.SUBMITTING: "in_progress",
    S.RUNNING: "in_progress",
    S.DOWNLOADING: "in_progress",
    S.NEEDS_ATTENTION: "in_progress",
    S.SUCCEEDED: "completed",
    S.FAILED: "failed",
    S.FILTERED: "failed",
    S.ABANDONED: "failed",
    S.CANCELLED: "failed",
}


def _epoch(value: Any) -> int | None:
    return None if value is None else int(value.timestamp())


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_of(job: Job) -> dict[str, str] | None:
    if STATUS[job.state] != "failed":
        return None
    recorded = job.error or {}
    if job.state is S.CANCELLED:
        return {"code": "cancelled", "message": f"cancelled; cost ${job.cost_usd or 0:.2f}"}
    if job.state is S.ABANDONED:
        return {"code": "abandoned", "message": "abandoned by the operator"}
    code = _snake(str(recorded.get("type") or job.state.value))
    return {"code": code, "message": str(recorded.get("message") or job.state.value)}


def progress_of(client: VeoClient, job: Job) -> tuple[int, float | None]:
    """Percent (0-100, an integer as OpenAI's) and the seconds still expected, from the model's typical latency."""
    if job.state is S.SUCCEEDED:
        return 100, 0.0
    if job.state is S.QUEUED or STATUS[job.state] == "failed":
        return 0, None
    p = client.progress_estimate(job, utcnow())
    return int(percent(p.elapsed_s, p.expected_remaining_s, done=False)), p.expected_remaining_s


def video_object(
    client: VeoClient, job: Job, base_url: str, key_id: str, *, events: list[JobEvent] | None = None
) -> dict[str, Any]:
    """The Video; its file links are signed (:mod:`veokit.server.links`), so a browser can use them as they are."""
    catalog: Catalog = client.catalog
    req = job.request
    progress, remaining = progress_of(client, job)
    seconds = req.get("duration_seconds", 8)
    if job.state is S.SUCCEEDED and job.results:
        seconds = round(job.results[0].duration_s)  # an extension's is the whole video's, as OpenAI's
    root = f"{base_url.rstrip('/')}/v1/videos/{job.id}"
    extras: dict[str, Any] = {
        "state": job.state.value,
        "provider": job.provider,
        "estimate_usd": job.estimate_usd,
        "cost_usd": job.cost_usd,
        "request": request_view(req),
        "expected_remaining_s": None if remaining is None else round(remaining, 1),
        "files": [
            {
                "index": r.index,
                "url": content_url(client.tenants, base_url, key_id, job.id, "video", r.index),
                "size_bytes": r.size_bytes,
                "sha256": r.sha256,
                "width": r.width,
                "height": r.height,
                "duration_s": r.duration_s,
                "video_codec": r.video_codec,
                "audio_codec": r.audio_codec,
            }
            for r in job.results
        ],
        "thumbnail_url": (
            content_url(client.tenants, base_url, key_id, job.id, "thumbnail") if job.state is S.SUCCEEDED else None
        ),
        "spritesheet_url": (
            content_url(client.tenants, base_url, key_id, job.id, "spritesheet") if job.state is S.SUCCEEDED else None
        ),
        "events_url": f"{root}/events",
    }
    if job.state is S.NEEDS_ATTENTION:
        extras["attention"] = (job.error or {}).get("message") or "waiting for the operator's decision"
    if events is not None:
        extras["events"] = [
            {"at": e.at.isoformat(), "from": e.from_state, "to": e.to_state, "message": e.message} for e in events
        ]
    return {
        "id": job.id,
        "object": "video",
        "model": job.model,
        "status": STATUS[job.state],
        "progress": progress,
        "created_at": _epoch(job.created_at),
        "completed_at": _epoch(job.finished_at) if job.state.terminal else None,
        "expires_at": None,  # kept until deleted
        "error": error_of(job),
        "prompt": req.get("prompt"),
        "remixed_from_video_id": None,
        "seconds": str(seconds),
        "size": size_of(catalog, str(req.get("aspect_ratio", "16:9")), str(req.get("resolution", "720p"))),
        "veokit": extras,
    }
