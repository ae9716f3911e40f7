"""Submissions in SQL (rules in :class:`veokit.models.job.Submission`), on the caller's connection."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.errors import JobNotFound, JobStateError
from veokit.models.job import Job, Submission
from veokit.store.schema import submissions

sub = submissions.c
_FIELDS = ("job_id", "seq", "owner", "provider", "started_at", "operation_name", "accepted_at")


def _row_to_submission(row: Any) -> Submission:
    return Submission.model_validate({k: row[k] for k in _FIELDS})


async def begin(conn: AsyncConnection, job: Job, now: dt.datetime) -> None:
    """Append the submit ``job`` (just moved to ``submitting``) is about to make, in the same transaction."""
    seq = (
        await conn.execute(sa.select(sa.func.coalesce(sa.func.max(sub.seq), 0)).where(sub.job_id == job.id))
    ).scalar_one()
    await conn.execute(
        sa.insert(submissions).values(
            job_id=job.id, seq=int(seq) + 1, owner=job.lease_owner, provider=job.provider, started_at=now
        )
    )


async def record(conn: AsyncConnection, job_id: str, seq: int, operation_name: str, now: dt.datetime) -> Submission:
    """Set the accepted operation of submit ``seq`` once; the same name again is a no-op."""
    await conn.execute(
        sa.update(submissions)
        .where(sub.job_id == job_id, sub.seq == seq, sub.operation_name.is_(None))
        .values(operation_name=operation_name, accepted_at=now)
    )
    row = (await conn.execute(sa.select(submissions).where(sub.job_id == job_id, sub.seq == seq))).mappings().first()
    if row is None:
        raise JobNotFound(f"job {job_id} has no submit #{seq}")
    found = _row_to_submission(row)
    if found.operation_name != operation_name:
        raise JobStateError(
            f"job {job_id}: submit #{seq} already recorded operation {found.operation_name}, not {operation_name}"
        )
    return found


async def of_job(conn: AsyncConnection, job_id: str) -> builtins.list[Submission]:
    query = sa.select(submissions).where(sub.job_id == job_id).order_by(sub.seq)
    return [_row_to_submission(r) for r in (await conn.execute(query)).mappings()]
