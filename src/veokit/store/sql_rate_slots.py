"""Rate slots in SQL (rules in :mod:`veokit.store.rate_slots`): one row per key, taken in the caller's write
transaction by one conditional ``UPDATE … RETURNING``.

PostgreSQL: the ``UPDATE`` locks the row, so takers of one key queue on it and each reads ``clock_timestamp()``
only once it holds the lock (``now()`` would be its transaction's start, stale by the time spent queueing).
SQLite: the write transaction began with ``BEGIN IMMEDIATE`` (one writer across processes), and ``now`` is this
machine's wall clock, which every process on the file shares.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.store import rate_slots
from veokit.store.schema import rate_slots as table


async def take(conn: AsyncConnection, key: str, *, gap_s: float, now: float | None) -> float:
    pg = conn.dialect.name == "postgresql"
    at: sa.ColumnElement[float]
    if now is None and pg:
        at = sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    else:
        at = sa.literal(time.time() if now is None else now, sa.Float)
    insert = (pg_insert if pg else sqlite_insert)(table).values(key=key, next_free_s=at)
    await conn.execute(insert.on_conflict_do_nothing(index_elements=[table.c.key]))
    greatest = sa.func.greatest if pg else sa.func.max
    free = table.c.next_free_s
    slot = sa.case((free > at + rate_slots.horizon_s(gap_s), at), else_=greatest(free, at))
    row = (
        await conn.execute(
            sa.update(table).where(table.c.key == key).values(next_free_s=slot + gap_s).returning(free, at)
        )
    ).one()
    # On PostgreSQL, RETURNING reads the clock again microseconds later: the wait comes out that much shorter,
    # far below any network's jitter.
    return max(0.0, float(row[0]) - gap_s - float(row[1]))
