"""``GET /v1/videos/{id}/events``: Server-Sent Events of a video's state changes and progress.

Each stored event of the job (its history: queued, submitting, the operation, retries, the end) is an
``event: state`` with ``id: N`` (its place in the history), so a client that reconnects with
``Last-Event-ID: N`` gets only what came after. Between them, ``event: progress`` (no id) carries the
estimated percent when it changes. The stream ends after the event that finishes the job. The store is read
every half second, so events from any process running the job arrive, not only from this one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from veokit.server.auth import Key
from veokit.server.models import ERRORS
from veokit.server.shapes import progress_of, video_object
from veokit.server.state import service
from veokit.service import ApiKey

router = APIRouter(prefix="/v1/videos", tags=["videos"])
LOOK_EVERY_S = 0.5
KEEPALIVE_S = 15.0


def frame(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get(
    "/{video_id}/events",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
    summary="Server-Sent Events of the video's state and progress, resumable with Last-Event-ID",
)
async def video_events(
    request: Request,
    key: Key,
    video_id: str,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    await service(request).client.tenants.get(key, video_id)  # 404 now, before a stream starts
    start = int(last_event_id) if last_event_id and last_event_id.strip().isdigit() else 0
    return StreamingResponse(
        _stream(request, key, video_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(request: Request, key: ApiKey, video_id: str, sent: int) -> AsyncIterator[str]:
    svc = service(request)
    client = svc.client
    base = str(request.base_url)
    last_progress: int | None = None
    quiet_s = 0.0
    while True:
        try:
            # The history before the job: a job read after it is at least as new, so the video sent with the
            # last state event is never older than that event. A job's end and its last event are written
            # together, so a finished job's history is read once more to hold that event.
            history = await client.events(video_id)
            job = await client.tenants.get(key, video_id)
            if job.state.terminal:
                history = await client.events(video_id)
        except Exception:  # deleted meanwhile (or the store is gone): end the stream
            return
        if len(history) > sent:
            video = video_object(client, job, base, key.id)
            for n, e in enumerate(history[sent:], start=sent + 1):
                data = {
                    "seq": n,
                    "at": e.at.isoformat(),
                    "from": e.from_state,
                    "to": e.to_state,
                    "message": e.message,
                    "video": video,
                }
                yield frame("state", data, n)
            sent, quiet_s = len(history), 0.0
        if job.state.terminal:
            return
        progress, remaining = progress_of(client, job)
        if progress != last_progress:
            last_progress, quiet_s = progress, 0.0
            yield frame("progress", {"progress": progress, "state": job.state.value, "expected_remaining_s": remaining})
        if quiet_s >= KEEPALIVE_S:
            quiet_s = 0.0
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await client.clock.sleep(LOOK_EVERY_S)
        quiet_s += LOOK_EVERY_S
