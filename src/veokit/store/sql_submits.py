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


# One statement numbers and appends a submission (INSERT … SELECT): no transaction can begin a submit for the
# same job at once (only the winner of queued → submitting gets here). Built once: it runs for every job.
_NEXT_SEQ = sa.select(sa.func.coalesce(sa.func.max(sub.seq), 0) + 1).where(sub.job_id == sa.bindparam("b_job"))
_BEGIN = (
    sa.insert(submissions)
    .from_select(
        [sub.job_id, sub.owner, sub.provider, sub.started_at, sub.seq],
        sa.select(
            sa.bindparam("b_job", type_=sub.job_id.type),
            sa.bindparam("b_owner", type_=sub.owner.type),
            sa.bindparam("b_provider", type_=sub.provider.type),
            sa.bindparam("b_started", type_=sub.started_at.type),
            _NEXT_SEQ.scalar_subquery(),
        ),
    )
    .returning(sub.seq)
)
_RECORD = (
    sa.update(submissions)
    .where(sub.job_id == sa.bindparam("b_job"), sub.seq == sa.bindparam("b_seq"), sub.operation_name.is_(None))
    .values(operation_name=sa.bindparam("b_name"), accepted_at=sa.bindparam("b_at"))
    .returning(submissions)
)


async def begin(conn: AsyncConnection, job: Job, now: dt.datetime) -> int:
    """Append the submit ``job`` (just moved to ``submitting``) is about to make, in the same transaction; its
    ``seq`` (RETURNING: the caller records the provider's answer against it without reading it back)."""
    params = {"b_job": job.id, "b_owner": job.lease_owner, "b_provider": job.provider, "b_started": now}
    return int((await conn.execute(_BEGIN, params)).scalar_one())


async def record(conn: AsyncConnection, job_id: str, seq: int, operation_name: str, now: dt.datetime) -> Submission:
    """Set the accepted operation of submit ``seq`` once; the same name again is a no-op."""
    params = {"b_job": job_id, "b_seq": seq, "b_name": operation_name, "b_at": now}
    row = (await conn.execute(_RECORD, params)).mappings().first()
    if row is None:  # already recorded (by this name, or another), or no such submit: read it to say which
        query = sa.select(submissions).where(sub.job_id == job_id, sub.seq == seq)
        row = (await conn.execute(query)).mappings().first()
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
