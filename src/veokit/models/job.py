"""A job's life: the states, the transitions allowed between them, and the records kept along the way.

    queued ──► submitting ──► running ──► downloading ──► succeeded
       │           │  │          │  │          │
       │           │  └► queued  │  └► filtered │
       │           ▼  (nothing   ▼             ▼
       │    needs_attention sent) failed ◄─────┘
       │      │    │    ▲
       │      │    │    └─ submit outcome unknown / found mid-submit after a crash
       ▼      ▼    ▼
   abandoned ◄┘  queued (user: `veokit jobs retry`) or running (reconciled: operation found)

``succeeded``, ``failed``, ``filtered`` and ``abandoned`` are terminal and never change again.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobState(enum.StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FILTERED = "filtered"
    NEEDS_ATTENTION = "needs_attention"
    ABANDONED = "abandoned"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        """Unfinished work that `veokit resume` or a worker should pick up."""
        return self in (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING, JobState.DOWNLOADING)


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.FILTERED, JobState.ABANDONED})

S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    S.QUEUED: frozenset({S.SUBMITTING, S.ABANDONED, S.FAILED}),
    S.SUBMITTING: frozenset({S.RUNNING, S.QUEUED, S.FAILED, S.NEEDS_ATTENTION}),
    S.RUNNING: frozenset({S.RUNNING, S.DOWNLOADING, S.FAILED, S.FILTERED, S.NEEDS_ATTENTION}),
    S.DOWNLOADING: frozenset({S.DOWNLOADING, S.SUCCEEDED, S.FAILED, S.RUNNING}),
    S.NEEDS_ATTENTION: frozenset({S.QUEUED, S.RUNNING, S.ABANDONED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.FILTERED: frozenset(),
    S.ABANDONED: frozenset(),
}


def can_transition(src: JobState, dst: JobState) -> bool:
    return dst in ALLOWED[src]


_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_job_id() -> str:
    """Sortable, URL-safe id: 48-bit millisecond time then 40 random bits (Crockford base32)."""
    n = (int(time.time() * 1000) << 40) | secrets.randbits(40)
    return "job_" + "".join([_ALPHABET[(n >> shift) & 31] for shift in range(85, -1, -5)])


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class VideoResult(BaseModel):
    """One saved video and what the probe found in it."""

    model_config = ConfigDict(frozen=True)

    index: int
    path: str
    sha256: str
    size_bytes: int
    width: int
    height: int
    duration_s: float
    fps: float
    video_codec: str
    audio_codec: str | None
    remote_uri: str | None = None  # provider URI without credentials; valid for the retention window


class Job(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    state: JobState
    provider: str
    model: str
    # StoredRequest.model_dump(mode="json"): input images and videos by reference to the store's blobs, so a
    # row stays small (listing jobs never reads hundreds of MB of video to show a prompt).
    request: dict[str, Any]
    fingerprint: str
    client_key: str | None = None
    out_dir: str
    estimate_usd: float
    cost_usd: float | None = None
    operation_name: str | None = None
    attempts: int = 0
    error: dict[str, Any] | None = None
    results: list[VideoResult] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    lease_owner: str | None = None
    lease_token: int = 0
    lease_expires_at: dt.datetime | None = None


class JobEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    at: dt.datetime
    from_state: JobState | None
    to_state: JobState
    message: str = ""
