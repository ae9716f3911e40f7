"""Every conversion between jobs and stored values: time zones, JSON and rows. No SQLAlchemy here."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pydantic_core

from veokit.models.job import Job, JobEvent, JobState, VideoResult

DATETIME_FIELDS = ("created_at", "updated_at", "submitted_at", "finished_at", "lease_expires_at")


def as_utc(value: dt.datetime, name: str = "datetime") -> dt.datetime:
    """Aware datetime in UTC. Naive values are refused: guessing their zone would corrupt lease expiry."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (use veokit.models.job.utcnow()), got {value!r}")
    return value.astimezone(dt.UTC)


def to_db_time(value: dt.datetime, *, naive: bool) -> dt.datetime:
    # SQLite has no time zone type: store naive UTC with fixed-width microseconds so text order is time order.
    value = as_utc(value)
    return value.replace(tzinfo=None) if naive else value


def from_db_time(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def dumps(value: Any) -> str:
    """The one JSON encoder (SQL engines and the memory store), so both accept and return the same values."""
    return pydantic_core.to_json(value).decode()


def normalise_job(job: Job) -> Job:
    """A deep, JSON-round-tripped copy with UTC datetimes: exactly what a SQL backend would hand back."""
    # Only the datetimes not already in UTC are converted (a fresh job's are: utcnow()), and the copy is skipped
    # when none is: this runs for every job a batch records.
    utc = {
        name: as_utc(value, name)
        for name in DATETIME_FIELDS
        if (value := getattr(job, name)) is not None and value.tzinfo is not dt.UTC
    }
    return clone(job.model_copy(update=utc) if utc else job)


def as_stored(job: Job) -> Job:
    """:func:`normalise_job` for a backend that keeps its own copy (SQL): the job itself when it already is what
    the backend would hand back (UTC datetimes, JSON values), as a job the engine has just built is, else the
    copy. Recording a batch's jobs then validates each one once (when it was built), not twice."""
    if all(getattr(job, name) is None or getattr(job, name).tzinfo is dt.UTC for name in DATETIME_FIELDS) and all(
        _is_json(value) for value in (job.request, job.error)
    ):
        return job
    return normalise_job(job)


def _is_json(value: Any) -> bool:
    """A value that comes back from JSON as itself: no tuple, no str or int subclass (an enum), no NaN."""
    kind = type(value)
    if kind in _JSON_SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and (type(v) in _JSON_SCALARS or _is_json(v)) for k, v in value.items())
    if kind is list:
        return all(type(v) in _JSON_SCALARS or _is_json(v) for v in value)
    return kind is float and math.isfinite(value)


_JSON_SCALARS = frozenset({str, int, bool, type(None)})


def clone(job: Job) -> Job:
    return Job.model_validate_json(job.model_dump_json())


def job_to_row(job: Job) -> dict[str, Any]:
    # The fields as they are (no model_dump: its deep copy was a fifth of recording a batch); the JSON columns'
    # serializer reads the request and error dicts without changing them.
    row = dict(job.__dict__)
    row["state"] = job.state.value
    row["results"] = results_to_json(job.results)
    return row


def fields_to_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validated transition changes (see rules.changes) as column values."""
    values = dict(fields)
    if "state" in values:
        values["state"] = JobState(values["state"]).value
    if "results" in values:
        values["results"] = results_to_json(values["results"])
    return values


def results_to_json(results: list[VideoResult]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in results]


def row_to_job(row: Mapping[Any, Any]) -> Job:
    return Job.model_validate(dict(row))


def event_row(job_id: str, at: dt.datetime, src: JobState | None, dst: JobState, message: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "at": at,
        "from_state": None if src is None else src.value,
        "to_state": dst.value,
        "message": message,
    }


def row_to_event(row: Mapping[Any, Any]) -> JobEvent:
    return JobEvent.model_validate({k: row[k] for k in ("job_id", "at", "from_state", "to_state", "message")})
