"""Keys, owned videos and webhooks in SQL: the statements behind :mod:`veokit.store.tenancy`, run on the caller's
connection and transaction."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from veokit.models.job import TERMINAL, Job
from veokit.store import codec
from veokit.store.schema import api_keys, api_videos, budget_ledger, jobs
from veokit.store.tenancy import (
    IN_FLIGHT,
    ApiKey,
    KeyNameError,
    KeyUsage,
    Ownership,
    WebhookDue,
    WebhookStatus,
)

# pg_advisory_xact_lock(class, key) serialising one key's admissions: ("vk", the key id's hash).
PG_KEY_LOCK_CLASS = 0x766B
V = api_videos.c


def _key(row: Any) -> ApiKey:
    return ApiKey.model_validate(dict(row))


async def add_key(conn: AsyncConnection, key: ApiKey) -> ApiKey:
    try:
        async with conn.begin_nested():
            await conn.execute(sa.insert(api_keys).values(key.model_dump()))
    except IntegrityError:
        raise KeyNameError(f"name: a key named {key.name!r} already exists", field="name") from None
    return key


async def list_keys(conn: AsyncConnection) -> builtins.list[ApiKey]:
    rows = (await conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.name))).mappings()
    return [_key(r) for r in rows]


async def key_by_hash(conn: AsyncConnection, key_hash: str) -> ApiKey | None:
    query = sa.select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _key(row)


async def revoke_key(conn: AsyncConnection, name: str, now: dt.datetime) -> ApiKey:
    await conn.execute(
        sa.update(api_keys).where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = (await conn.execute(sa.select(api_keys).where(api_keys.c.name == name))).mappings().first()
    if row is None:
        raise KeyNameError(f"name: there is no key named {name!r}", field="name")
    return _key(row)


async def lock_key(conn: AsyncConnection, key_id: str) -> None:
    """Serialise one key's admissions. SQLite needs nothing: BEGIN IMMEDIATE admits one writer at a time."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_KEY_LOCK_CLASS, sa.func.hashtext(key_id))))


async def usage(conn: AsyncConnection, key_id: str, day: str) -> KeyUsage:
    # One statement, so PostgreSQL reads one snapshot: a job moving from queued to reserved in between is
    # counted once, not twice or never.
    owned = sa.select(V.job_id).where(V.key_id == key_id).scalar_subquery()
    committed = sa.select(sa.func.coalesce(sa.func.sum(budget_ledger.c.amount_usd), 0.0)).where(
        budget_ledger.c.day == day, budget_ledger.c.job_id.in_(owned)
    )
    queued = sa.select(sa.func.coalesce(sa.func.sum(jobs.c.estimate_usd), 0.0)).where(
        jobs.c.state == "queued", jobs.c.id.in_(owned)
    )
    flying = sa.select(sa.func.count()).where(jobs.c.state.in_([s.value for s in IN_FLIGHT]), jobs.c.id.in_(owned))
    row = (
        await conn.execute(sa.select(committed.scalar_subquery(), queued.scalar_subquery(), flying.scalar_subquery()))
    ).one()
    return KeyUsage(day, round(float(row[0]), 4), round(float(row[1]), 4), int(row[2]))


async def find_idempotent(conn: AsyncConnection, key_id: str, idempotency_key: str) -> tuple[str, str | None] | None:
    query = sa.select(V.job_id, V.request_hash).where(V.key_id == key_id, V.idempotency_key == idempotency_key)
    row = (await conn.execute(query)).first()
    return None if row is None else (str(row[0]), row[1])


async def insert_owned(conn: AsyncConnection, job: Job, owner: Ownership) -> None:
    await conn.execute(
        sa.insert(api_videos).values(
            job_id=job.id,
            key_id=owner.key_id,
            created_at=job.created_at,
            idempotency_key=owner.idempotency_key,
            request_hash=owner.request_hash,
            webhook_status=(WebhookStatus.PENDING if owner.notify else WebhookStatus.NONE).value,
            webhook_attempts=0,
        )
    )


def _visible(key_id: str) -> list[sa.ColumnElement[bool]]:
    return [V.key_id == key_id, V.deleted_at.is_(None)]


async def get_owned(conn: AsyncConnection, key_id: str, job_id: str) -> Job | None:
    query = sa.select(jobs).join(api_videos, V.job_id == jobs.c.id).where(V.job_id == job_id, *_visible(key_id))
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else codec.row_to_job(row)


async def list_owned(
    conn: AsyncConnection, key_id: str, *, after: str | None, limit: int, ascending: bool
) -> builtins.list[Job]:
    query = sa.select(jobs).join(api_videos, V.job_id == jobs.c.id).where(*_visible(key_id))
    if after is not None:
        mark = (await conn.execute(sa.select(V.created_at).where(V.job_id == after, V.key_id == key_id))).first()
        if mark is not None:
            position = sa.tuple_(V.created_at, V.job_id)
            bound = sa.tuple_(sa.literal(mark[0], V.created_at.type), sa.literal(after))
            query = query.where(position > bound if ascending else position < bound)
    order = (V.created_at.asc(), V.job_id.asc()) if ascending else (V.created_at.desc(), V.job_id.desc())
    rows = (await conn.execute(query.order_by(*order).limit(limit))).mappings().all()
    return [codec.row_to_job(r) for r in rows]


async def delete_owned(conn: AsyncConnection, key_id: str, job_id: str, now: dt.datetime) -> bool:
    done = await conn.execute(sa.update(api_videos).where(V.job_id == job_id, *_visible(key_id)).values(deleted_at=now))
    return bool(done.rowcount)


async def due_webhooks(
    conn: AsyncConnection, now: dt.datetime, lease_s: float, limit: int
) -> builtins.list[WebhookDue]:
    pick = (
        sa.select(V.job_id, V.webhook_attempts)
        .join(jobs, jobs.c.id == V.job_id)
        .where(
            V.webhook_status == WebhookStatus.PENDING.value,
            jobs.c.state.in_([s.value for s in TERMINAL]),
            sa.or_(V.webhook_next_at.is_(None), V.webhook_next_at <= now),
        )
        .order_by(jobs.c.finished_at, V.job_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(of=api_videos, skip_locked=True)
    picked = (await conn.execute(pick)).all()
    if not picked:
        return []
    ids = [str(p[0]) for p in picked]
    # Leased to this deliverer until then: another server sharing the store leaves it alone meanwhile, and if
    # this one dies it is tried again after the lease.
    await conn.execute(
        sa.update(api_videos)
        .where(V.job_id.in_(ids))
        .values(webhook_attempts=V.webhook_attempts + 1, webhook_next_at=now + dt.timedelta(seconds=lease_s))
    )
    query = sa.select(jobs, api_keys).join(api_videos, V.job_id == jobs.c.id).join(api_keys, api_keys.c.id == V.key_id)
    rows = (await conn.execute(query.where(jobs.c.id.in_(ids)))).all()
    attempts = {str(p[0]): int(p[1]) + 1 for p in picked}
    out = []
    for row in rows:
        values = row._mapping
        job = codec.row_to_job({c.name: values[c] for c in jobs.c})
        key = _key({c.name: values[c] for c in api_keys.c})
        out.append(WebhookDue(job, key, attempts[job.id]))
    out.sort(key=lambda d: ids.index(d.job.id))
    return out


async def webhook_result(
    conn: AsyncConnection, job_id: str, *, delivered: bool, error: str | None, retry_at: dt.datetime | None
) -> None:
    if delivered:
        values: dict[str, Any] = {"webhook_status": WebhookStatus.DELIVERED.value, "webhook_next_at": None}
    elif retry_at is None:
        values = {"webhook_status": WebhookStatus.FAILED.value, "webhook_next_at": None}
    else:
        values = {"webhook_next_at": retry_at}
    values["webhook_error"] = None if delivered else (error or "")[:500]
    await conn.execute(
        sa.update(api_videos).where(V.job_id == job_id, V.webhook_status == WebhookStatus.PENDING.value).values(values)
    )
