"""Claiming, renewing and releasing leases in SQL (rules in :mod:`veokit.store.leases`).

Each function runs inside the caller's write transaction. A claim picks candidates, then updates only those
still claimable, returning the new rows:

* PostgreSQL: the pick is ``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent claimers lock disjoint rows and
  never wait on each other;
* SQLite: the transaction began with ``BEGIN IMMEDIATE`` (one writer at a time, across processes), so the
  pick and the conditional ``UPDATE … RETURNING`` cannot interleave with another claim.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.models.job import Job, JobState, utcnow
from veokit.store import codec, rules
from veokit.store import leases as lease_rules
from veokit.store.schema import job_events, jobs

# Each (id, token) pair is two bound parameters; stay far below every driver's limit.
_RENEW_CHUNK = 1000
_TERMINAL = [s.value for s in JobState if s.terminal]


def _claimable(now: dt.datetime, take_over: str | None) -> sa.ColumnElement[bool]:
    free = [jobs.c.lease_expires_at.is_(None), jobs.c.lease_expires_at <= now]
    if take_over is not None:
        free.append(jobs.c.lease_owner == take_over)
    return sa.and_(jobs.c.state.in_([s.value for s in lease_rules.CLAIMABLE]), sa.or_(*free))


async def claim(
    conn: AsyncConnection,
    owner: str,
    *,
    lease_s: float,
    limit: int,
    job_ids: Iterable[str] | None,
    now: dt.datetime,
    take_over: str | None = None,
) -> builtins.list[Job]:
    if limit == 0:
        return []
    pick = (
        sa.select(jobs.c.id, jobs.c.state, jobs.c.lease_owner)
        .where(_claimable(now, take_over))
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(limit)
    )
    if job_ids is not None:
        pick = pick.where(jobs.c.id.in_(list(job_ids)))
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    picked = (await conn.execute(pick)).all()
    if not picked:
        return []
    stamp = utcnow()
    take = (
        sa.update(jobs)
        .where(jobs.c.id.in_([p.id for p in picked]), _claimable(now, take_over))
        .values(
            lease_owner=owner,
            lease_token=jobs.c.lease_token + 1,
            lease_expires_at=lease_rules.until(now, lease_s),
            updated_at=stamp,
        )
        .returning(jobs)
    )
    claimed = [codec.row_to_job(r) for r in (await conn.execute(take)).mappings()]
    got = {j.id for j in claimed}
    takeovers = [
        codec.event_row(
            p.id, stamp, JobState(p.state), JobState(p.state), lease_rules.takeover_message(p.lease_owner, owner)
        )
        for p in picked
        if p.lease_owner is not None and p.id in got
    ]
    if takeovers:
        await conn.execute(sa.insert(job_events), takeovers)
    claimed.sort(key=lambda j: (j.created_at, j.id))
    return claimed


async def renew(
    conn: AsyncConnection, owner: str, leases: Mapping[str, int], *, lease_s: float, now: dt.datetime
) -> set[str]:
    expires = lease_rules.until(now, lease_s)
    kept: set[str] = set()
    pairs = list(leases.items())
    for start in range(0, len(pairs), _RENEW_CHUNK):
        chunk = pairs[start : start + _RENEW_CHUNK]
        # A row-value IN: one cached statement whatever the pairs (an OR of ANDs is compiled anew each beat,
        # which at 10,000 jobs in flight cost more than the update itself).
        held = sa.tuple_(jobs.c.id, jobs.c.lease_token).in_(chunk)
        # updated_at stays: a heartbeat is not a change anyone reading the job cares about.
        result = await conn.execute(
            sa.update(jobs)
            .where(jobs.c.lease_owner == owner, held)
            .values(lease_expires_at=expires)
            .returning(jobs.c.id)
        )
        kept.update(result.scalars())
    return set(leases) - kept


async def release(
    conn: AsyncConnection,
    job_id: str,
    *,
    fence: int,
    delay_s: float,
    message: str,
    error: dict[str, Any] | None,
    now: dt.datetime,
) -> Job:
    # FOR UPDATE (PostgreSQL; SQLite holds the write lock already): nobody can claim between check and update.
    row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update())).mappings().first()
    current = None if row is None else codec.row_to_job(row)
    if current is None or current.lease_token != fence:
        raise rules.mismatch_error(
            job_id, current, lease_rules.CLAIMABLE if current is None else (current.state,), fence
        )
    if current.state.terminal:
        return current
    stamp = utcnow()
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_token": jobs.c.lease_token + 1,
        "updated_at": stamp,
        "lease_expires_at": lease_rules.until(now, delay_s) if delay_s > 0 else None,
    }
    if error is not None:
        values.update(codec.fields_to_values(rules.validate_fields({"error": error})))
    result = await conn.execute(
        sa.update(jobs).where(jobs.c.id == job_id, jobs.c.lease_token == fence).values(values).returning(jobs)
    )
    updated = result.mappings().one()
    if message:
        await conn.execute(
            sa.insert(job_events).values(codec.event_row(job_id, stamp, current.state, current.state, message))
        )
    return codec.row_to_job(updated)


async def release_many(conn: AsyncConnection, leases: Mapping[str, int], *, message: str) -> set[str]:
    """:func:`release` for many leases, ``_RENEW_CHUNK`` per statement, and one statement for all the events."""
    stamp = utcnow()
    pairs = list(leases.items())
    released: dict[str, str] = {}
    for start in range(0, len(pairs), _RENEW_CHUNK):
        held = sa.tuple_(jobs.c.id, jobs.c.lease_token).in_(pairs[start : start + _RENEW_CHUNK])
        result = await conn.execute(
            sa.update(jobs)
            .where(held, jobs.c.state.not_in(_TERMINAL))
            .values(lease_owner=None, lease_token=jobs.c.lease_token + 1, lease_expires_at=None, updated_at=stamp)
            .returning(jobs.c.id, jobs.c.state)
        )
        released.update((str(job_id), str(state)) for job_id, state in result)
    if message and released:
        events = [codec.event_row(i, stamp, JobState(s), JobState(s), message) for i, s in released.items()]
        await conn.execute(sa.insert(job_events), events)
    rest = [(job_id, token) for job_id, token in pairs if job_id not in released]
    finished: set[str] = set()  # held with that token but terminal: nothing to give back, nothing lost
    for start in range(0, len(rest), _RENEW_CHUNK):
        held = sa.tuple_(jobs.c.id, jobs.c.lease_token).in_(rest[start : start + _RENEW_CHUNK])
        query = sa.select(jobs.c.id).where(held, jobs.c.state.in_(_TERMINAL))
        finished.update(str(job_id) for job_id in (await conn.execute(query)).scalars())
    return {job_id for job_id, _ in rest} - finished
