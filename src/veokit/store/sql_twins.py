"""Twins in SQL: the statements behind :mod:`veokit.store.twins`, run inside ``begin_submit``'s transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.models.job import Job, JobState, utcnow
from veokit.store import codec, rules, twins
from veokit.store.schema import job_events, jobs

S = JobState
_BY_ID = sa.select(jobs).where(jobs.c.id == sa.bindparam("b_id"))  # built once: every submit reads its job


async def hold_back(
    conn: AsyncConnection, job_id: str, *, fence: int | None, now: dt.datetime, passed: Collection[str]
) -> Job | None:
    """The twin the queued job must wait for, recorded as its ``twin_of``; ``None`` when it may submit.
    The job's lease and state are checked first (their errors come before any twin)."""
    row = (await conn.execute(_BY_ID, {"b_id": job_id})).mappings().first()
    # Checked on the row's values: most jobs are not seeded (or are --fresh), and for them the row is needed for
    # nothing else, so it is made a Job (validated) only to report a mismatch or to look for twins.
    if row is None or row["state"] != S.QUEUED.value or (fence is not None and row["lease_token"] != fence):
        raise rules.mismatch_error(job_id, None if row is None else codec.row_to_job(row), (S.QUEUED,), fence)
    if not twins.may_wait(row["fresh"], row["request"]):
        return None
    job = codec.row_to_job(row)
    if conn.dialect.name == "postgresql":
        # Held to the commit: twins' submits are decided one at a time (SQLite's BEGIN IMMEDIATE already is).
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(twins.lock_key(job.fingerprint))))
    query = sa.select(jobs).where(
        jobs.c.fingerprint == job.fingerprint,
        jobs.c.id != job.id,
        sa.or_(
            jobs.c.state.in_([s.value for s in twins.CANDIDATES if s is not S.SUCCEEDED]),
            sa.and_(jobs.c.state == S.SUCCEEDED.value, jobs.c.finished_at > job.created_at),
        ),
    )
    found = [codec.row_to_job(r) for r in (await conn.execute(query)).mappings()]
    twin = twins.blocking(job, found, now=now, passed=passed)
    if twin is None or job.twin_of == twin.id:
        return twin
    stamp = utcnow()
    cas = [jobs.c.id == job_id, jobs.c.state == S.QUEUED.value]
    if fence is not None:
        cas.append(jobs.c.lease_token == fence)
    changed = await conn.execute(sa.update(jobs).where(*cas).values(twin_of=twin.id, updated_at=stamp))
    if changed.rowcount != 1:
        raise rules.mismatch_error(job_id, await _fetch(conn, job_id), (S.QUEUED,), fence)
    await conn.execute(
        sa.insert(job_events).values(codec.event_row(job_id, stamp, S.QUEUED, S.QUEUED, twins.waiting_message(twin)))
    )
    return twin


async def _fetch(conn: AsyncConnection, job_id: str) -> Job | None:
    row = (await conn.execute(_BY_ID, {"b_id": job_id})).mappings().first()
    return None if row is None else codec.row_to_job(row)
