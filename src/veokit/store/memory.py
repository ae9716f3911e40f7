"""In-process job store for tests and `memory://`: the SQL store's semantics without persistence."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Iterable
from typing import Any

from veokit.errors import JobNotFound, JobStateError
from veokit.models.job import Job, JobEvent, JobState, utcnow
from veokit.store import rules
from veokit.store.codec import clone, normalise_job


class MemoryJobStore:
    """Stored jobs are JSON round-tripped on the way in and copied on the way out, so callers never share
    mutable state with the store and see the same values a database would return."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, builtins.list[JobEvent]] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create(self, job: Job, *, message: str = "created") -> Job:
        stored, _ = await self.create_or_get(job, message=message)
        return stored

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        job = normalise_job(job)
        async with self._lock:
            if job.client_key is not None:
                existing = self._by_client_key(job.client_key)
                if existing is not None:
                    return clone(existing), False
            if job.id in self._jobs:
                raise JobStateError(f"job {job.id} already exists")
            self._jobs[job.id] = job
            self._events[job.id] = [
                JobEvent(job_id=job.id, at=job.created_at, from_state=None, to_state=job.state, message=message)
            ]
            return clone(job), True

    async def get(self, job_id: str) -> Job:
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(f"job {job_id} not found")
            return clone(job)

    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        rules.check_limit(limit)
        wanted = None if states is None else {JobState(s) for s in states}
        async with self._lock:
            jobs = [j for j in self._jobs.values() if wanted is None or j.state in wanted]
        jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return [clone(j) for j in jobs[:limit]]

    async def transition(
        self,
        job_id: str,
        *,
        expect: JobState | Iterable[JobState],
        to: JobState,
        message: str = "",
        fence: int | None = None,
        **fields: Any,
    ) -> Job:
        expected = rules.expected_states(expect)
        to = JobState(to)
        rules.check_allowed(job_id, expected, to)
        values = rules.validate_fields(fields)
        async with self._lock:
            current = self._jobs.get(job_id)
            if current is None or current.state not in expected or (fence is not None and current.lease_token != fence):
                raise rules.mismatch_error(job_id, current, expected, fence)
            now = utcnow()
            updated = clone(current.model_copy(update=rules.changes(to, values, now)))
            self._jobs[job_id] = updated
            if rules.records_event(current.state, to, message):
                self._events[job_id].append(
                    JobEvent(job_id=job_id, at=now, from_state=current.state, to_state=to, message=message)
                )
            return clone(updated)

    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        async with self._lock:
            return list(self._events.get(job_id, ()))  # JobEvent is frozen and holds no mutable values

    async def find_by_client_key(self, key: str) -> Job | None:
        async with self._lock:
            job = self._by_client_key(key)
            return None if job is None else clone(job)

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        async with self._lock:
            matches = [j for j in self._jobs.values() if j.fingerprint == fingerprint and j.state is JobState.SUCCEEDED]
        if not matches:
            return None
        return clone(max(matches, key=lambda j: (j.finished_at or j.created_at, j.id)))

    def _by_client_key(self, key: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.client_key == key), None)
