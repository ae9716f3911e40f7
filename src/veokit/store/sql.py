"""Job store on SQLAlchemy Core (async): SQLite through aiosqlite, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from veokit.errors import JobNotFound, JobStateError
from veokit.models.job import Job, JobEvent, JobState, utcnow
from veokit.store import codec, migrate, rules, sqlite
from veokit.store.schema import job_events, jobs


class SqlJobStore:
    def __init__(self, url: str | URL) -> None:
        self._url = make_url(url)
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None
        self._write_lock: AbstractAsyncContextManager[Any] = nullcontext()

    def __repr__(self) -> str:
        return f"SqlJobStore({self._url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> AsyncEngine:
        """The open engine (for tests and maintenance; store writes should go through the methods)."""
        if self._engine is None:
            raise RuntimeError(f"{self!r} is not open: await store.open() first")
        return self._engine

    async def open(self) -> None:
        if self._engine is not None:
            return
        is_sqlite = self._url.get_backend_name() == "sqlite"
        # Long-lived PostgreSQL workers outlive server restarts and idle-connection reapers: test before use.
        engine = create_async_engine(self._url, json_serializer=codec.dumps, pool_pre_ping=not is_sqlite)
        if is_sqlite:
            sqlite.configure(engine)
        writer = engine.execution_options(**{sqlite.WRITE: True})
        # SQLite admits one writer at a time, and its busy handler waits by sleeping in growing steps:
        # queueing this process's writers here keeps them off it (other processes still rely on it).
        self._write_lock = asyncio.Lock() if is_sqlite else nullcontext()
        try:
            if is_sqlite:
                await sqlite.enable_wal(engine)
            await migrate.upgrade(writer)
        except BaseException:
            await engine.dispose()
            raise
        self._engine, self._writer = engine, writer

    async def close(self) -> None:
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def create(self, job: Job, *, message: str = "created") -> Job:
        stored, _ = await self.create_or_get(job, message=message)
        return stored

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        job = codec.normalise_job(job)
        # Insert first and let the unique index arbitrate: a look-up before inserting would race with
        # another process enqueueing the same client_key.
        try:
            async with self._write() as conn:
                await conn.execute(sa.insert(jobs).values(codec.job_to_row(job)))
                await conn.execute(
                    sa.insert(job_events).values(codec.event_row(job.id, job.created_at, None, job.state, message))
                )
                stored = await self._fetch(conn, job.id)
        except IntegrityError:
            existing = None if job.client_key is None else await self.find_by_client_key(job.client_key)
            if existing is None:
                raise JobStateError(f"job {job.id} already exists") from None
            return existing, False
        assert stored is not None
        return stored, True

    async def get(self, job_id: str) -> Job:
        async with self.engine.connect() as conn:
            job = await self._fetch(conn, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found")
        return job

    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        rules.check_limit(limit)
        query = sa.select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        if states is not None:
            query = query.where(jobs.c.state.in_([JobState(s).value for s in states]))
        return await self._select_jobs(query)

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
        now = utcnow()
        row = codec.fields_to_values(rules.changes(to, values, now))
        async with self._write() as conn:
            # The event needs the state we left. With one expected state that is known; with several, read it
            # under a row lock, then compare-and-set against exactly that state.
            src = expected[0] if len(expected) == 1 else await self._locked_state(conn, job_id)
            if src is not None and src in expected:
                cas = [jobs.c.id == job_id, jobs.c.state == src.value]
                if fence is not None:
                    cas.append(jobs.c.lease_token == fence)
                result = await conn.execute(sa.update(jobs).where(*cas).values(row))
                if result.rowcount == 1:
                    if rules.records_event(src, to, message):
                        await conn.execute(sa.insert(job_events).values(codec.event_row(job_id, now, src, to, message)))
                    updated = await self._fetch(conn, job_id)
                    assert updated is not None
                    return updated
            raise rules.mismatch_error(job_id, await self._fetch(conn, job_id), expected, fence)

    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        query = sa.select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [codec.row_to_event(r) for r in rows]

    async def find_by_client_key(self, key: str) -> Job | None:
        found = await self._select_jobs(sa.select(jobs).where(jobs.c.client_key == key))
        return found[0] if found else None

    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        query = (
            sa.select(jobs)
            .where(jobs.c.fingerprint == fingerprint, jobs.c.state == JobState.SUCCEEDED.value)
            .order_by(sa.func.coalesce(jobs.c.finished_at, jobs.c.created_at).desc(), jobs.c.id.desc())
            .limit(1)
        )
        found = await self._select_jobs(query)
        return found[0] if found else None

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            raise RuntimeError(f"{self!r} is not open: await store.open() first")
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    async def _select_jobs(self, query: sa.Select[Any]) -> builtins.list[Job]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [codec.row_to_job(r) for r in rows]

    @staticmethod
    async def _fetch(conn: AsyncConnection, job_id: str) -> Job | None:
        row = (await conn.execute(sa.select(jobs).where(jobs.c.id == job_id))).mappings().first()
        return None if row is None else codec.row_to_job(row)

    @staticmethod
    async def _locked_state(conn: AsyncConnection, job_id: str) -> JobState | None:
        # FOR UPDATE on PostgreSQL; SQLite ignores it, and needs none inside BEGIN IMMEDIATE.
        query = sa.select(jobs.c.state).where(jobs.c.id == job_id).with_for_update()
        state = (await conn.execute(query)).scalar_one_or_none()
        return None if state is None else JobState(state)
