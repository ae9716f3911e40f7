"""Store semantics shared by every backend: which transitions and fields are accepted, and which error a
failed compare-and-set raises. Keeping them here is what makes the memory and SQL stores behave alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import TypeAdapter

from veokit.errors import JobError, JobNotFound, JobStateError, LeaseLost
from veokit.models.job import Job, JobState, can_transition
from veokit.store.codec import as_utc

# Store-managed columns (state, updated_at, finished_at) and identity/request columns are deliberately absent:
# they change only through transition() itself, or never.
UPDATABLE_FIELDS: frozenset[str] = frozenset(
    {
        "cost_usd",
        "operation_name",
        "attempts",
        "error",
        "results",
        "submitted_at",
        "estimate_usd",
        "lease_owner",
        "lease_token",
        "lease_expires_at",
        "model",
        "provider",
        "twin_of",
    }
)


def _adapter(name: str) -> TypeAdapter[Any]:
    annotation = Job.model_fields[name].annotation
    assert annotation is not None, name
    return TypeAdapter(annotation)


_ADAPTERS: dict[str, TypeAdapter[Any]] = {name: _adapter(name) for name in UPDATABLE_FIELDS}


def expected_states(expect: JobState | str | Iterable[JobState | str]) -> tuple[JobState, ...]:
    # JobState is a str, and a str is iterable: test for it before treating `expect` as a collection.
    states = (JobState(expect),) if isinstance(expect, str) else tuple(dict.fromkeys(map(JobState, expect)))
    if not states:
        raise ValueError("expect must name at least one state")
    return states


def check_allowed(job_id: str, expected: tuple[JobState, ...], to: JobState) -> None:
    """Refuse before touching storage, so an illegal request fails the same way whatever the job's state."""
    refused = [s for s in expected if not can_transition(s, to)]
    if refused:
        detail = "; terminal jobs never change" if any(s.terminal for s in refused) else ""
        raise JobStateError(f"job {job_id}: {', '.join(refused)} → {to} is not an allowed transition{detail}")


def validate_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Typed, UTC-normalised copies of transition fields. Unknown names are a programming error: TypeError."""
    unknown = sorted(set(fields) - UPDATABLE_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(UPDATABLE_FIELDS))
        raise TypeError(f"transition() got unknown field(s) {', '.join(unknown)}; updatable: {allowed}")
    out: dict[str, Any] = {}
    for name, value in fields.items():
        checked = _ADAPTERS[name].validate_python(value)
        out[name] = as_utc(checked, name) if isinstance(checked, dt.datetime) else checked
    return out


def changes(to: JobState, fields: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Everything a successful transition writes, besides the event."""
    update = {**fields, "state": to, "updated_at": now}
    if to.terminal:
        update["finished_at"] = now
    return update


def records_event(src: JobState, to: JobState, message: str) -> bool:
    # Same-state updates (progress, cost, lease renewals) would otherwise flood the history.
    return src != to or bool(message)


def mismatch_error(job_id: str, actual: Job | None, expected: tuple[JobState, ...], fence: int | None) -> JobError:
    """The error for a compare-and-set that matched no row, judged from a fresh read of the job."""
    if actual is None:
        return JobNotFound(f"job {job_id} not found")
    if fence is not None and actual.lease_token != fence:
        return LeaseLost(
            f"job {job_id} lease token is {actual.lease_token}, expected {fence}: "
            f"another worker holds it (job is {actual.state})"
        )
    if actual.state in expected:
        # Only possible when another writer moved the job away and back between our update and re-read.
        return JobStateError(f"job {job_id} changed concurrently (now {actual.state}); read it again")
    return JobStateError(f"job {job_id} is {actual.state}, expected {' or '.join(expected)}")


def check_limit(limit: int) -> None:
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")


def create_messages(jobs: list[Job], messages: list[str] | None) -> list[str]:
    """``create_many``'s first-event messages, one per job."""
    if messages is None:
        return ["created"] * len(jobs)
    if len(messages) != len(jobs):
        raise ValueError(f"create_many: {len(messages)} messages for {len(jobs)} jobs")
    return messages
