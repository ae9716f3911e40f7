"""The job store port: what the engine, CLI and service need from durable storage.

Every backend implements exactly the semantics documented here; the shared rules live in
:mod:`veokit.store.rules` so the backends cannot drift apart, and ``tests/contract/test_store_contract.py``
runs one suite against all of them.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from veokit.models.job import Job, JobEvent, JobState


@runtime_checkable
class JobStore(Protocol):
    async def open(self) -> None:
        """Connect and create or upgrade the schema. Idempotent; safe to run from several processes at once."""

    async def close(self) -> None:
        """Release connections. The store may be opened again afterwards."""

    async def create(self, job: Job, *, message: str = "created") -> Job:
        """Insert ``job`` (or return the existing job with the same ``client_key``); see :meth:`create_or_get`."""

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        """Insert ``job`` and its first event (``from_state=None``); return ``(stored, True)``.

        When ``job.client_key`` is set and a job with that key exists, nothing is written and
        ``(existing, False)`` is returned: enqueueing is idempotent, also under concurrent callers.
        A duplicate ``id`` without a matching ``client_key`` raises :class:`~veokit.errors.JobStateError`.
        Datetimes must be timezone-aware (naive ones raise ``ValueError``); they are stored as UTC.
        """

    async def get(self, job_id: str) -> Job:
        """The job, or :class:`~veokit.errors.JobNotFound`."""

    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        """Jobs newest first (by ``created_at``, then ``id``), optionally only those in ``states``."""

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
        """Atomically move a job from one of ``expect`` to ``to`` and set ``fields``; return the new job.

        Raises, without changing anything:

        * ``TypeError`` for a field outside :data:`veokit.store.rules.UPDATABLE_FIELDS`;
        * :class:`~veokit.errors.JobStateError` when ``to`` is not allowed from every expected state
          (so a terminal job never changes), or when the job is not in an expected state;
        * :class:`~veokit.errors.LeaseLost` when ``fence`` is given and differs from the job's ``lease_token``
          (checked before the state, because a worker that lost its lease must stop whatever the state);
        * :class:`~veokit.errors.JobNotFound`.

        ``updated_at`` is set on every change, ``finished_at`` when ``to`` is terminal. A
        :class:`JobEvent` is appended when the state changes or ``message`` is non-empty.
        """

    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        """The job's events, oldest first (empty for an unknown job)."""

    async def find_by_client_key(self, key: str) -> Job | None: ...

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        """The most recently finished succeeded job with this fingerprint (for reusing results)."""
