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

    queued, submitting, running, needs_attention ──► cancelled   (user: `veokit jobs cancel`)
    queued ──► succeeded, filtered, failed   (its twin's outcome: see below)

``cancelled`` is the user stopping a job: before its submit nothing was paid; after it, the provider's
cancel is called where it has one and the cost that stands is recorded (see :mod:`veokit.service.cancel`).
A job being downloaded is not cancelled: its video is already paid for. ``abandoned`` is giving up on a job
needing attention without asking the provider anything.

Twins: a job with a fixed seed whose identical request is already being paid for (``twin_of``: see
:mod:`veokit.store.twins`) is not submitted; it waits in ``queued`` and then ends as its twin did, with its
video at $0 (``succeeded``), or ``filtered``/``failed`` like it.

``succeeded``, ``failed``, ``filtered``, ``abandoned`` and ``cancelled`` are terminal and never change again.
"""

from __future__ import annotations

import dataclasses
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
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        """Unfinished work that `veokit resume` or a worker should pick up."""
        return self in (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING, JobState.DOWNLOADING)


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.FILTERED, JobState.ABANDONED, JobState.CANCELLED})

S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    S.QUEUED: frozenset({S.SUBMITTING, S.ABANDONED, S.FAILED, S.CANCELLED, S.SUCCEEDED, S.FILTERED}),
    S.SUBMITTING: frozenset({S.RUNNING, S.QUEUED, S.FAILED, S.NEEDS_ATTENTION, S.CANCELLED}),
    S.RUNNING: frozenset({S.RUNNING, S.DOWNLOADING, S.FAILED, S.FILTERED, S.NEEDS_ATTENTION, S.CANCELLED}),
    S.DOWNLOADING: frozenset({S.DOWNLOADING, S.SUCCEEDED, S.FAILED, S.RUNNING}),
    S.NEEDS_ATTENTION: frozenset({S.QUEUED, S.RUNNING, S.ABANDONED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.FILTERED: frozenset(),
    S.ABANDONED: frozenset(),
    S.CANCELLED: frozenset(),
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


class Usage(BaseModel):
    """What the provider says one generation consumed (the Interactions API's ``usage``), in tokens."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    video_output_tokens: int = 0
    other_output_tokens: int = 0  # text and thinking

    def describe(self) -> str:
        other = f" + {self.other_output_tokens:,} text" if self.other_output_tokens else ""
        return f"{self.video_output_tokens:,} video{other} output tokens, {self.input_tokens:,} input tokens"


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
    # Billed usage, for providers that report it (token-priced models): the source of the job's cost.
    usage: Usage | None = None


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
    # Recorded with `--fresh`: never waits for an identical seeded job in flight, and none waits for it.
    fresh: bool = False
    # The identical seeded job this one waits for, or whose video it got for $0 (veokit.store.twins).
    twin_of: str | None = None


class Submission(BaseModel):
    """One paid call begun for a job (``queued → submitting``), and what the provider accepted, if anything.

    Kept apart from the job row and written without the lease fence: a worker that lost its lease while the
    provider was accepting its request still records the operation, and whoever holds the job next finds it
    here and continues polling it instead of setting the job aside (see :mod:`veokit.engine.submits`).
    """

    model_config = ConfigDict(frozen=True)

    job_id: str
    seq: int  # the job's n-th submit, from 1
    owner: str | None  # the lease owner that began it (None: run without a lease)
    provider: str
    started_at: dt.datetime
    operation_name: str | None = None  # set once, when the provider has accepted the request
    accepted_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SubmitBegun:
    """What :meth:`~veokit.store.base.JobStore.begin_submit` wrote: the job, now ``submitting``, and the number
    of the :class:`Submission` it appended (the provider's answer is recorded against it), so the caller need
    not read the submissions back to learn it."""

    job: Job
    seq: int


class JobEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    at: dt.datetime
    from_state: JobState | None
    to_state: JobState
    message: str = ""
