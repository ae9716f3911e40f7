"""Job store on SQLAlchemy Core (async): SQLite through aiosqlite, PostgreSQL through asyncpg."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from veokit.errors import JobNotFound, JobStateError
from veokit.models.inputs import BlobRef
from veokit.models.job import Job, JobEvent, JobState, utcnow
from veokit.store import budget, codec, migrate, rules, sql_blobs, sql_leases, sql_ledger, sqlite
from veokit.store import leases as lease_rules
from veokit.store.blobs import BlobSource
from veokit.store.budget import BudgetCaps, SpendSummary
from veokit.store.group_commit import GroupCommitter
from veokit.store.schema import job_events, jobs

S = JobState
# ids per IN (...) list in get_many: far below every driver's bound-parameter limit.
_IDS_CHUNK = 500
# Jobs per transaction in create_many: 10,000 jobs are ten commits, and no transaction holds SQLite's write
# lock (other processes wait on it) for more than a fraction of a second.
_CREATE_CHUNK = 1000
POOL_TIMEOUT_S = 300.0


class SqlJobStore:
    def __init__(self, url: str | URL) -> None:
        self._url = make_url(url)
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None
        self._committer: GroupCommitter | None = None

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
        # pool_timeout: a worker with thousands of jobs may queue for a connection; a write that gives up
        # after a paid submit would lose its operation name, so wait long rather than fail fast.
        engine = create_async_engine(
            self._url, json_serializer=codec.dumps, pool_pre_ping=not is_sqlite, pool_timeout=POOL_TIMEOUT_S
        )
        if is_sqlite:
            sqlite.configure(engine)
        writer = engine.execution_options(**{sqlite.WRITE: True})
        # SQLite admits one writer at a time, and its busy handler waits by sleeping in growing steps:
        # queueing this process's writers (and committing them together) keeps them off it; other processes
        # still rely on it. PostgreSQL runs concurrent transactions itself.
        self._committer = GroupCommitter(writer) if is_sqlite else None
        try:
            if is_sqlite:
                await sqlite.enable_wal(engine)
            await migrate.upgrade(writer)
        except BaseException:
            await engine.dispose()
            raise
        self._engine, self._writer = engine, writer

    async def close(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None and self._engine is not None:
            await committer.close()
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def create(self, job: Job, *, message: str = "created") -> Job:
        stored, _ = await self.create_or_get(job, message=message)
        return stored

    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        job = codec.normalise_job(job)
        # Insert first and let the unique index arbitrate: a look-up before inserting would race with
        # another process enqueueing the same client_key. The insert runs in a savepoint so that, when it
        # loses, the winner is read in the same transaction (it may be a write of this one's, not yet committed).
        async with self._write() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(sa.insert(jobs).values(codec.job_to_row(job)))
            except IntegrityError:
                found = (
                    None
                    if job.client_key is None
                    else (await conn.execute(sa.select(jobs).where(jobs.c.client_key == job.client_key)))
                    .mappings()
                    .first()
                )
                if found is None:
                    raise JobStateError(f"job {job.id} already exists") from None
                return codec.row_to_job(found), False
            await conn.execute(
                sa.insert(job_events).values(codec.event_row(job.id, job.created_at, None, job.state, message))
            )
            stored = await self._fetch(conn, job.id)
        assert stored is not None
        return stored, True

    async def create_many(
        self, jobs: builtins.list[Job], *, messages: builtins.list[str] | None = None
    ) -> builtins.list[tuple[Job, bool]]:
        texts = rules.create_messages(jobs, messages)
        todo = [(codec.normalise_job(job), text) for job, text in zip(jobs, texts, strict=True)]
        done: builtins.list[tuple[Job, bool]] = []
        for start in range(0, len(todo), _CREATE_CHUNK):
            chunk = todo[start : start + _CREATE_CHUNK]
            try:
                done.extend(await self._create_chunk(chunk))
            except IntegrityError:
                # Another process recorded one of these client keys meanwhile (the chunk rolled back whole):
                # one at a time, the unique index arbitrates each.
                done.extend([await self.create_or_get(job, message=text) for job, text in chunk])
        return done

    async def _create_chunk(self, chunk: builtins.list[tuple[Job, str]]) -> builtins.list[tuple[Job, bool]]:
        keys = [job.client_key for job, _ in chunk if job.client_key is not None]
        async with self._write() as conn:
            known: dict[str, Job] = {}
            for start in range(0, len(keys), _IDS_CHUNK):
                query = sa.select(jobs).where(jobs.c.client_key.in_(keys[start : start + _IDS_CHUNK]))
                known.update((r["client_key"], codec.row_to_job(r)) for r in (await conn.execute(query)).mappings())
            answer: builtins.list[tuple[Job, bool]] = []
            rows: builtins.list[dict[str, Any]] = []
            events: builtins.list[dict[str, Any]] = []
            for job, text in chunk:
                found = None if job.client_key is None else known.get(job.client_key)
                if found is not None:
                    answer.append((found, False))
                    continue
                if job.client_key is not None:
                    known[job.client_key] = job
                answer.append((job, True))
                rows.append(codec.job_to_row(job))
                events.append(codec.event_row(job.id, job.created_at, None, job.state, text))
            if rows:  # executemany: one statement each for all the rows and all their first events
                await conn.execute(sa.insert(jobs), rows)
                await conn.execute(sa.insert(job_events), events)
        return answer

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
        async with self._write() as conn:
            return await self._transition(
                conn, job_id, expected, to, message, fence, values, budget.budget_day(utcnow())
            )

    async def begin_submit(
        self,
        job_id: str,
        *,
        caps: BudgetCaps | None = None,
        fence: int | None = None,
        message: str = "",
        now: dt.datetime | None = None,
        **fields: Any,
    ) -> Job:
        rules.check_allowed(job_id, (S.QUEUED,), S.SUBMITTING)
        values = rules.validate_fields(fields)
        day = budget.budget_day(lease_rules.current_time(now))
        async with self._write() as conn:
            if caps is None or not caps.any:  # nothing to check: the compare-and-set alone decides
                return await self._transition(conn, job_id, (S.QUEUED,), S.SUBMITTING, message, fence, values, day)
            if caps.needs_ledger:
                await sql_ledger.lock(conn)  # held until commit: the check and the reservation are one step
            job = await self._fetch(conn, job_id)
            if job is None or job.state is not S.QUEUED or (fence is not None and job.lease_token != fence):
                raise rules.mismatch_error(job_id, job, (S.QUEUED,), fence)
            if caps is not None:
                caps.check_job(job.id, job.estimate_usd, job.provider)
                if caps.needs_ledger:
                    caps.check_day(
                        job,
                        day=day,
                        committed_usd=await sql_ledger.committed(conn, day),
                        committed_provider_usd=await sql_ledger.committed(conn, day, job.provider),
                    )
            return await self._transition(conn, job_id, (S.QUEUED,), S.SUBMITTING, message, fence, values, day)

    async def _transition(
        self,
        conn: AsyncConnection,
        job_id: str,
        expected: tuple[JobState, ...],
        to: JobState,
        message: str,
        fence: int | None,
        values: dict[str, Any],
        day: str,
    ) -> Job:
        now = utcnow()
        row = codec.fields_to_values(rules.changes(to, values, now))
        # The event needs the state we left. With one expected state that is known; with several, read it
        # under a row lock, then compare-and-set against exactly that state.
        src = expected[0] if len(expected) == 1 else await self._locked_state(conn, job_id)
        if src is not None and src in expected:
            cas = [jobs.c.id == job_id, jobs.c.state == src.value]
            if fence is not None:
                cas.append(jobs.c.lease_token == fence)
            # RETURNING: the new row comes back with the update (workers make thousands of these: a round
            # trip saved on each is felt).
            returned = (await conn.execute(sa.update(jobs).where(*cas).values(row).returning(jobs))).mappings()
            found = returned.first()
            if found is not None:
                updated = codec.row_to_job(found)
                if rules.records_event(src, to, message):
                    await conn.execute(sa.insert(job_events).values(codec.event_row(job_id, now, src, to, message)))
                await sql_ledger.follow(conn, src, updated, day, now)
                return updated
        raise rules.mismatch_error(job_id, await self._fetch(conn, job_id), expected, fence)

    # -- leases ---------------------------------------------------------------------------------------------
    async def claim(
        self,
        owner: str,
        *,
        lease_s: float,
        limit: int = 1,
        job_ids: Iterable[str] | None = None,
        now: dt.datetime | None = None,
        take_over: str | None = None,
    ) -> builtins.list[Job]:
        lease_rules.check_claim(owner, lease_s, limit)
        at = lease_rules.current_time(now)
        async with self._write() as conn:
            return await sql_leases.claim(
                conn, owner, lease_s=lease_s, limit=limit, job_ids=job_ids, now=at, take_over=take_over
            )

    async def renew(
        self, owner: str, leases: Mapping[str, int], *, lease_s: float, now: dt.datetime | None = None
    ) -> set[str]:
        lease_rules.check_owner(owner)
        lease_rules.check_seconds("lease_s", lease_s)
        if not leases:
            return set()
        at = lease_rules.current_time(now)
        async with self._write() as conn:
            return await sql_leases.renew(conn, owner, leases, lease_s=lease_s, now=at)

    async def release(
        self,
        job_id: str,
        *,
        fence: int,
        delay_s: float = 0.0,
        message: str = "",
        error: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> Job:
        lease_rules.check_seconds("delay_s", delay_s, allow_zero=True)
        at = lease_rules.current_time(now)
        async with self._write() as conn:
            return await sql_leases.release(
                conn, job_id, fence=fence, delay_s=delay_s, message=message, error=error, now=at
            )

    # -- look-ups -------------------------------------------------------------------------------------------
    async def get_many(self, job_ids: Iterable[str]) -> builtins.list[Job]:
        ids = list(dict.fromkeys(job_ids))
        found: dict[str, Job] = {}
        for start in range(0, len(ids), _IDS_CHUNK):
            chunk = ids[start : start + _IDS_CHUNK]
            found.update((j.id, j) for j in await self._select_jobs(sa.select(jobs).where(jobs.c.id.in_(chunk))))
        return [found[i] for i in ids if i in found]

    async def spend(self, *, since: str | None = None) -> SpendSummary:
        async with self.engine.connect() as conn:
            return await sql_ledger.spend(conn, since)

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

    # -- blobs ----------------------------------------------------------------------------------------------
    async def put_blob(self, content: BlobSource, *, sha256: str | None = None) -> BlobRef:
        return await sql_blobs.put(self.engine, self._write, content, sha256)

    async def has_blob(self, sha256: str) -> bool:
        return await sql_blobs.find(self.engine, sha256) is not None

    async def get_blob(self, sha256: str) -> bytes:
        return b"".join([chunk async for chunk in sql_blobs.read(self.engine, sha256)])

    async def read_blob(self, sha256: str) -> AsyncIterator[bytes]:
        async for chunk in sql_blobs.read(self.engine, sha256):
            yield chunk

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        if self._writer is None:
            raise RuntimeError(f"{self!r} is not open: await store.open() first")
        if self._committer is not None:
            async with self._committer.write() as conn:
                yield conn
        else:
            async with self._writer.begin() as conn:
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
