"""The cost ledger in SQL: the statements behind :mod:`veokit.store.budget`'s rules, run on the caller's
connection so they commit (or roll back) with the state change they follow."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.models.job import Job, JobState
from veokit.store import budget
from veokit.store.budget import LedgerStatus
from veokit.store.schema import budget_ledger, jobs

# pg_advisory_xact_lock key serialising budget checks across workers ("veokit" + 1; the migration lock is
# "veokit"). Held only from the check to the commit of the reservation: never across a network call.
PG_BUDGET_LOCK = 0x76656F6B6974 + 1

ledger = budget_ledger.c
_RESERVED = ("job_id", "day", "provider", "model", "estimate_usd", "amount_usd", "status", "created_at", "updated_at")
# One statement (INSERT … SELECT) numbers and inserts a reservation, built once (every paid submit makes one).
# No two transactions can reserve for one job at once: only the winner of queued → submitting gets here.
_RESERVE = sa.insert(budget_ledger).from_select(
    [*(ledger[name] for name in _RESERVED), ledger.seq],
    sa.select(
        *(sa.bindparam(f"r_{name}", type_=ledger[name].type) for name in _RESERVED),
        sa.select(sa.func.coalesce(sa.func.max(ledger.seq), 0) + 1)
        .where(ledger.job_id == sa.bindparam("r_job_id"))
        .scalar_subquery(),
    ),
)


async def lock(conn: AsyncConnection) -> None:
    """Serialise budget checks. SQLite needs nothing: BEGIN IMMEDIATE already admits one writer at a time."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_BUDGET_LOCK)))


async def committed(
    conn: AsyncConnection, day: str, provider: str | None = None, *, exclude: Collection[str] = ()
) -> float:
    """Everything spent, reserved or of unknown outcome on ``day`` (released rows hold 0), leaving out the
    providers in ``exclude`` (play money)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(ledger.amount_usd), 0.0)).where(ledger.day == day)
    if provider is not None:
        query = query.where(ledger.provider == provider)
    if exclude:
        query = query.where(ledger.provider.not_in(list(exclude)))
    return float((await conn.execute(query)).scalar_one())


async def follow(conn: AsyncConnection, src: JobState, job: Job, day: str, now: dt.datetime) -> None:
    """Apply :func:`budget.ledger_change` for a state change that just happened to ``job``."""
    change = budget.ledger_change(src, job.state)
    if change is None:
        return
    if change == budget.RESERVE:
        await conn.execute(_RESERVE, reserve_params(job, day, now))
        return
    assert isinstance(change, budget.Settle)
    await conn.execute(_settle(change.when, change.all_rows, change.amount != "keep"), settle_params(change, job, now))


def reserve_params(job: Job, day: str, now: dt.datetime) -> dict[str, Any]:
    """The reservation of ``job``'s estimate, as the reserving statement's bound parameters (shared with SQLite's
    fast path, ``veokit.store.sqlite_fast``)."""
    row = {
        "job_id": job.id,
        "day": day,
        "provider": job.provider,
        "model": job.model,
        "estimate_usd": job.estimate_usd,
        "amount_usd": job.estimate_usd,
        "status": LedgerStatus.RESERVED.value,
        "created_at": now,
        "updated_at": now,
    }
    return {f"r_{name}": value for name, value in row.items()}


def settle_params(change: budget.Settle, job: Job, now: dt.datetime) -> dict[str, Any]:
    """The settling statement's bound parameters (see :func:`_settle`)."""
    params: dict[str, Any] = {"s_job": job.id, "s_status": change.to.value, "s_at": now}
    if change.amount != "keep":
        params["s_amount"] = budget.settled_amount(change, job, 0.0)
    return params


@functools.lru_cache(maxsize=32)
def _settle(when: frozenset[LedgerStatus], all_rows: bool, amount: bool) -> sa.Update:
    """The statement settling a job's ledger rows, built once per kind of settlement (there are a handful):
    building it per state change cost more CPU than running it."""
    where = [ledger.job_id == sa.bindparam("s_job"), ledger.status.in_(sorted(s.value for s in when))]
    if not all_rows:
        newest = sa.select(sa.func.max(ledger.seq)).where(ledger.job_id == sa.bindparam("s_job")).scalar_subquery()
        where.append(ledger.seq == newest)
    values: dict[str, Any] = {
        "status": sa.bindparam("s_status", type_=ledger.status.type),
        "updated_at": sa.bindparam("s_at", type_=ledger.updated_at.type),
    }
    if amount:
        values["amount_usd"] = sa.bindparam("s_amount", type_=ledger.amount_usd.type)
    return sa.update(budget_ledger).where(*where).values(values)


async def spend(conn: AsyncConnection, since: str | None) -> budget.SpendSummary:
    query = sa.select(
        ledger.day,
        ledger.provider,
        ledger.model,
        ledger.status,
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(ledger.amount_usd), 0.0),
        sa.func.coalesce(sa.func.sum(ledger.estimate_usd), 0.0),
    ).group_by(ledger.day, ledger.provider, ledger.model, ledger.status)
    if since is not None:
        query = query.where(ledger.day >= since)
    rows = await conn.execute(query)
    groups = [(str(d), str(p), str(m), str(s), int(n), float(a), float(e)) for d, p, m, s, n, a, e in rows]
    queued = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(jobs.c.estimate_usd), 0.0)).where(
                jobs.c.state == JobState.QUEUED.value
            )
        )
    ).one()
    return budget.SpendSummary(budget.fold_spend(groups), int(queued[0]), round(float(queued[1]), 4))
