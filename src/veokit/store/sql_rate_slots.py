"""Rate slots in SQL (rules in :mod:`veokit.store.rate_slots`): one row per key, taken in the caller's write
transaction by one conditional ``UPDATE … RETURNING`` that also applies the take's hold, if any; a departure's
report writes the hold of the take a window of requests later, under the same row lock.

PostgreSQL: the ``UPDATE`` (or the report's ``SELECT … FOR UPDATE``) locks the row, so takers and reporters of
one key queue on it, and each reads ``clock_timestamp()`` only once it holds the lock (``now()`` would be its
transaction's start, stale by the time spent queueing). SQLite: the write transaction began with ``BEGIN
IMMEDIATE`` (one writer across processes), and ``now`` is this machine's wall clock, which every process on the
file shares.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.store import rate_slots
from veokit.store.rate_slots import RateSlot
from veokit.store.schema import rate_holds as holds
from veokit.store.schema import rate_slots as table


def _now(pg: bool, now: float | None) -> sa.ColumnElement[float]:
    if now is None and pg:
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
    return sa.literal(time.time() if now is None else now, sa.Float)


async def take(conn: AsyncConnection, key: str, *, gap_s: float, now: float | None) -> RateSlot:
    pg = conn.dialect.name == "postgresql"
    at = _now(pg, now)
    insert = (pg_insert if pg else sqlite_insert)(table).values(key=key, next_free_s=at, taken=0)
    await conn.execute(insert.on_conflict_do_nothing(index_elements=[table.c.key]))
    greatest = sa.func.greatest if pg else sa.func.max
    free = table.c.next_free_s
    horizon = at + rate_slots.horizon_s(gap_s)
    base = sa.case((free > horizon, at), else_=greatest(free, at))
    held = (
        sa.select(holds.c.not_before_s)
        .where(holds.c.key == key, holds.c.seq == table.c.taken, holds.c.not_before_s <= horizon)
        .scalar_subquery()
    )
    slot = greatest(base, sa.func.coalesce(held, base))
    update = sa.update(table).where(table.c.key == key).values(next_free_s=slot + gap_s, taken=table.c.taken + 1)
    row = (await conn.execute(update.returning(free, at, table.c.taken))).one()
    taken = int(row[2])
    await conn.execute(sa.delete(holds).where(holds.c.key == key, holds.c.seq < taken))  # its hold is spent
    # On PostgreSQL, RETURNING reads the clock again microseconds later: the wait comes out that much shorter,
    # far below any network's jitter. RETURNING gives the row as updated: this take's number is one less.
    return RateSlot(max(0.0, float(row[0]) - gap_s - float(row[1])), taken - 1)


async def sent(
    conn: AsyncConnection, key: str, *, seq: int, ago_s: float, count: int, window_s: float, now: float | None
) -> None:
    pg = conn.dialect.name == "postgresql"
    taken = (
        await conn.execute(sa.select(table.c.taken).where(table.c.key == key).with_for_update())
    ).scalar_one_or_none()
    if taken is None:
        return  # nothing taken, nothing to hold
    index, _ = rate_slots.hold(seq, 0.0, count, window_s)
    not_before = _now(pg, now) - ago_s + window_s
    greatest = sa.func.greatest if pg else sa.func.max
    if index < taken:  # reported after that take was handed out: hold the next one instead
        await conn.execute(
            sa.update(table).where(table.c.key == key).values(next_free_s=greatest(table.c.next_free_s, not_before))
        )
        return
    insert = (pg_insert if pg else sqlite_insert)(holds).values(key=key, seq=index, not_before_s=not_before)
    later = greatest(holds.c.not_before_s, insert.excluded.not_before_s)
    await conn.execute(
        insert.on_conflict_do_update(index_elements=[holds.c.key, holds.c.seq], set_={"not_before_s": later})
    )
