"""Job store on SQLAlchemy Core (async): SQLite through aiosqlite, PostgreSQL through asyncpg."""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from veokit.errors import JobNotFound, JobStateError, TwinInFlight, VeokitError
from veokit.models.inputs import BlobRef
from veokit.models.job import Job, JobEvent, JobState, Submission, SubmitBegun, utcnow
from veokit.store import (
    budget,
    codec,
    faults,
    migrate,
    rate_slots,
    rules,
    sql_blobs,
    sql_leases,
    sql_ledger,
    sql_rate_slots,
    sql_submits,
    sql_tenancy,
    sql_twins,
    sqlite,
    sqlite_driver,
    sqlite_fast,
    tenancy,
    twins,
)
from veokit.store import leases as lease_rules
from veokit.store.blobs import BlobSource
from veokit.store.budget import BudgetCaps, SpendSummary
from veokit.store.group_commit import GroupCommitter
from veokit.store.rate_slots import RateSlot
from veokit.store.schema import UtcDateTime, job_events, jobs
from veokit.store.tenancy import ApiKey, KeyLimits, KeyUsage, Ownership, WebhookDue

S = JobState
# ids per IN (...) list in get_many: far below every driver's bound-parameter limit.
_IDS_CHUNK = 500
# Jobs per transaction in create_many: 10,000 jobs are ten commits, and no transaction holds SQLite's write
# lock (other processes wait on it) for more than a fraction of a second.
_CREATE_CHUNK = 1000
POOL_TIMEOUT_S = 300.0
# Whole-operation attempts while the database is locked (each waits up to SQLite's busy timeout) or a
# PostgreSQL connection drops: about 20 s in all before the lock is reported as the user's problem.
LOCKED_ATTEMPTS = 4
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Coroutine[Any, Any, Any]])


# The statements every job's state changes run, built once (a statement built per call costs more CPU to
# construct and look up in the compiled cache than SQLite takes to run it). The compare-and-set's SET clause is
# whatever columns the parameters name.
_CAS = sa.update(jobs).where(jobs.c.id == sa.bindparam("w_id"), jobs.c.state == sa.bindparam("w_state")).returning(jobs)
_FENCED_CAS = _CAS.where(jobs.c.lease_token == sa.bindparam("w_fence"))
_INSERT_EVENT = sa.insert(job_events)
# Reads every job makes (the worker's fence check before its paid call; a job by id), built once likewise.
_LEASE_TOKEN = sa.select(jobs.c.lease_token).where(jobs.c.id == sa.bindparam("b_id"))
_BY_ID = sa.select(jobs).where(jobs.c.id == sa.bindparam("b_id"))


async def _insert_rows(conn: AsyncConnection, table: sa.Table, rows: builtins.list[dict[str, Any]]) -> None:
    """``INSERT`` the rows (all with the same keys) as one executemany on the driver. The values go through
    each column's own bind processing (the same conversions ``conn.execute(insert, rows)`` applies), but
    SQLAlchemy's per-row, per-parameter machinery around it is skipped: for a 10,000-job batch it cost ~1.6 s
    of CPU, five times the database's own work."""
    sql, names, processors = _insert_plan(table, conn.dialect, tuple(rows[0]))
    processors = {k: _memo(p) if p and isinstance(table.c[k].type, UtcDateTime) else p for k, p in processors.items()}
    if names is None:  # a named paramstyle: the driver takes the (processed) dicts
        params: Any = [{k: (p(row[k]) if p else row[k]) for k, p in processors.items()} for row in rows]
    else:
        steps = [(k, processors[k]) for k in names]
        params = [tuple(p(row[k]) if p else row[k] for k, p in steps) for row in rows]
    await conn.exec_driver_sql(sql, params)


def _memo(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, converting each distinct value once: a batch's jobs are stamped with one time each, which
    their ``created_at``, ``updated_at`` and first event share (equal datetimes are the same instant, so they
    convert alike)."""
    done: dict[Any, Any] = {}

    def once(value: Any) -> Any:
        if value not in done:
            done[value] = process(value)
        return done[value]

    return once


@functools.lru_cache(maxsize=16)
def _insert_plan(
    table: sa.Table, dialect: Dialect, keys: tuple[str, ...]
) -> tuple[str, builtins.list[str] | None, dict[str, Callable[[Any], Any] | None]]:
    """The dialect's ``INSERT`` text for these columns, its positional parameter order (``None`` for a named
    paramstyle), and each column's bind processor for this dialect (its JSON serializer included)."""
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=builtins.list(keys))
    processors: dict[str, Callable[[Any], Any] | None] = {
        k: table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in keys
    }
    order = compiled.positiontup
    if order is not None and sorted(order) != sorted(keys):
        raise AssertionError(f"insert into {table.name}: parameters {order} are not the columns {keys}")
    return compiled.string, None if order is None else builtins.list(order), processors


def _named_faults(method: F) -> F:
    """The store operation, retried while the database is locked and its environment faults named (see
    :meth:`SqlJobStore._retrying`)."""

    @functools.wraps(method)
    async def named(self: SqlJobStore, *args: Any, **kwargs: Any) -> Any:
        return await self._retrying(lambda: method(self, *args, **kwargs))

    return cast(F, named)


class SqlJobStore:
    def __init__(self, url: str | URL) -> None:
        self._url = make_url(url)
        self._engine: AsyncEngine | None = None
        self._writer: AsyncEngine | None = None
        self._committer: GroupCommitter | None = None
        # SQLite: the hot statements straight on sqlite3 (veokit.store.sqlite_fast), and reads by id on a
        # connection of their own (when one sees the same database: not an in-memory one).
        self._fast: sqlite_fast.Plans | None = None
        self._reader: sqlite_fast.Reader | None = None

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
        # SQLite: aiosqlite with one thread hand-off per statement (veokit.store.sqlite_driver).
        driver: dict[str, Any] = {"module": sqlite_driver.dbapi()} if is_sqlite else {}
        engine = create_async_engine(
            self._url, json_serializer=codec.dumps, pool_pre_ping=not is_sqlite, pool_timeout=POOL_TIMEOUT_S, **driver
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
                sqlite.check_file(self._url.database, self._where)
            await self._retrying(lambda: sqlite.enable_wal(engine) if is_sqlite else asyncio.sleep(0))
            await self._retrying(lambda: migrate.upgrade(writer))
            if is_sqlite:
                self._fast = sqlite_fast.Plans(engine.dialect, _CAS, _FENCED_CAS)
                if sqlite_fast.reads_alone(self._url.database, self._url.query):
                    reader = sqlite_fast.Reader(engine.dialect.create_connect_args(self._url), sqlite.BUSY_TIMEOUT_MS)
                    await self._retrying(reader.open)
                    self._reader = reader
        except BaseException:
            await engine.dispose()
            raise
        self._engine, self._writer = engine, writer

    async def schema_revisions(self) -> builtins.list[str]:
        """The schema revisions the database records (``[migrate.HEAD]`` when it is the one this veokit knows)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(migrate.current_revisions)

    @property
    def _where(self) -> str:
        """The database as messages name it (no password)."""
        if self._url.get_backend_name() == "sqlite":
            return f"job database {self._url.database}"
        plain = self._url.set(drivername=self._url.get_backend_name())  # as the user wrote it: no driver name
        return f"job database {plain.render_as_string(hide_password=True)}"

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one whole store operation (a transaction: nothing of a failed one remains); again, within a
        bound, while the database is locked or briefly unreachable; a fault of the environment leaves it named
        (:class:`~veokit.errors.EnvironmentFault`), never as a driver's exception."""
        for attempt in range(1, LOCKED_ATTEMPTS + 1):
            try:
                return await operation()
            except VeokitError:
                raise
            except Exception as exc:
                fault = faults.classify(exc, self._where)
                if fault is None:
                    raise
                if not fault.retryable or attempt == LOCKED_ATTEMPTS:
                    raise fault from None
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None and self._engine is not None:
            await committer.close()
        reader, self._reader, self._fast = self._reader, None, None
        if reader is not None:
            await reader.close()
        engine, self._engine, self._writer = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    async def create(self, job: Job, *, message: str = "created") -> Job:
        stored, _ = await self.create_or_get(job, message=message)
        return stored

    @_named_faults
    async def create_or_get(self, job: Job, *, message: str = "created") -> tuple[Job, bool]:
        job = codec.normalise_job(job)
        return await self._write_op(lambda conn: self._create_or_get(conn, job, message))

    async def _create_or_get(self, conn: AsyncConnection, job: Job, message: str) -> tuple[Job, bool]:
        # Insert first and let the unique index arbitrate: a look-up before inserting would race with
        # another process enqueueing the same client_key. The insert runs in a savepoint so that, when it
        # loses, the winner is read in the same transaction (it may be a write of this one's, not yet committed).
        try:
            async with conn.begin_nested():
                await conn.execute(sa.insert(jobs).values(codec.job_to_row(job)))
        except IntegrityError:
            found = (
                None
                if job.client_key is None
                else (await conn.execute(sa.select(jobs).where(jobs.c.client_key == job.client_key))).mappings().first()
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

    @_named_faults
    async def create_many(
        self, jobs: builtins.list[Job], *, messages: builtins.list[str] | None = None
    ) -> builtins.list[tuple[Job, bool]]:
        texts = rules.create_messages(jobs, messages)
        todo = [(codec.as_stored(job), text) for job, text in zip(jobs, texts, strict=True)]
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
                await _insert_rows(conn, jobs, rows)
                await _insert_rows(conn, job_events, events)
        return answer

    @_named_faults
    async def get(self, job_id: str) -> Job:
        if self._reader is not None and (fast := self._fast) is not None:
            job = await self._reader.run(lambda raw: fast.fetch(raw, job_id))
        else:
            async with self.engine.connect() as conn:
                job = await self._fetch(conn, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found")
        return job

    @_named_faults
    async def list(self, *, states: Iterable[JobState] | None = None, limit: int = 100) -> builtins.list[Job]:
        rules.check_limit(limit)
        query = sa.select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        if states is not None:
            query = query.where(jobs.c.state.in_([JobState(s).value for s in states]))
        return await self._select_jobs(query)

    @_named_faults
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
        day = budget.budget_day(utcnow())
        if self._committer is not None and (fast := self._fast) is not None:
            return await self._committer.run_raw(
                lambda raw: fast.transition(raw, job_id, expected, to, message, fence, values, day)
            )
        return await self._write_op(
            lambda conn: self._transition(conn, job_id, expected, to, message, fence, values, day)
        )

    @_named_faults
    async def begin_submit(
        self,
        job_id: str,
        *,
        caps: BudgetCaps | None = None,
        fence: int | None = None,
        message: str = "",
        now: dt.datetime | None = None,
        passed: Collection[str] = (),
        **fields: Any,
    ) -> SubmitBegun:
        rules.check_allowed(job_id, (S.QUEUED,), S.SUBMITTING)
        values = rules.validate_fields(fields)
        at = lease_rules.current_time(now)
        day = budget.budget_day(at)
        if (caps is None or not caps.any) and self._committer is not None and (fast := self._fast) is not None:
            quick = await self._committer.run_raw(
                lambda raw: fast.begin_submit(raw, job_id, fence, message, values, day)
            )
            if quick is not None:
                return quick
            # A seeded job: it may have a twin to wait for. Nothing was written; the general path decides.

        async def begin(conn: AsyncConnection) -> SubmitBegun | Job:
            twin = await sql_twins.hold_back(conn, job_id, fence=fence, now=at, passed=passed)
            if twin is None:  # it pays for its own video: it waits for no twin now
                return await self._begin_submit(conn, job_id, caps, fence, message, {**values, "twin_of": None}, day)
            return twin

        begun = await self._write_op(begin)
        if isinstance(begun, SubmitBegun):
            return begun
        # Raised after the commit: the job keeps the twin it waits for (and the event saying so).
        raise TwinInFlight(twins.held_back(job_id, begun), twin_id=begun.id)

    async def _begin_submit(
        self,
        conn: AsyncConnection,
        job_id: str,
        caps: BudgetCaps | None,
        fence: int | None,
        message: str,
        values: dict[str, Any],
        day: str,
    ) -> SubmitBegun:
        if caps is None or not caps.any:  # nothing to check: the compare-and-set alone decides
            begun = await self._transition(conn, job_id, (S.QUEUED,), S.SUBMITTING, message, fence, values, day)
            return SubmitBegun(begun, await sql_submits.begin(conn, begun, begun.updated_at))
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
                    committed_usd=await sql_ledger.committed(conn, day, exclude=caps.emulated),
                    committed_provider_usd=await sql_ledger.committed(conn, day, job.provider),
                )
        submitting = await self._transition(conn, job_id, (S.QUEUED,), S.SUBMITTING, message, fence, values, day)
        return SubmitBegun(submitting, await sql_submits.begin(conn, submitting, submitting.updated_at))

    @_named_faults
    async def record_accepted(self, job_id: str, seq: int, operation_name: str) -> Submission:
        now = utcnow()
        if self._committer is not None and (fast := self._fast) is not None:
            return await self._committer.run_raw(
                lambda raw: fast.record_accepted(raw, job_id, seq, operation_name, now)
            )
        return await self._write_op(lambda conn: sql_submits.record(conn, job_id, seq, operation_name, now))

    @_named_faults
    async def submissions(self, job_id: str) -> builtins.list[Submission]:
        async with self.engine.connect() as conn:
            return await sql_submits.of_job(conn, job_id)

    @_named_faults
    async def lease_token(self, job_id: str) -> int:
        if self._reader is not None and (fast := self._fast) is not None:
            token = await self._reader.run(lambda raw: fast.token(raw, job_id))
        else:
            async with self.engine.connect() as conn:
                token = (await conn.execute(_LEASE_TOKEN, {"b_id": job_id})).scalar_one_or_none()
        if token is None:
            raise JobNotFound(f"job {job_id} not found")
        return int(token)

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
            # RETURNING: the new row comes back with the update (workers make thousands of these: a round
            # trip saved on each is felt). The statement is built once; the columns set are the row's keys.
            params: dict[str, Any] = {} if fence is None else {"w_fence": fence}
            cas = _CAS if fence is None else _FENCED_CAS
            params.update(row, w_id=job_id, w_state=src.value)
            found = (await conn.execute(cas, params)).mappings().first()
            if found is not None:
                updated = codec.row_to_job(found)
                if rules.records_event(src, to, message):
                    await conn.execute(_INSERT_EVENT, codec.event_row(job_id, now, src, to, message))
                await sql_ledger.follow(conn, src, updated, day, now)
                return updated
        raise rules.mismatch_error(job_id, await self._fetch(conn, job_id), expected, fence)

    # -- leases ---------------------------------------------------------------------------------------------
    @_named_faults
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
        ids = None if job_ids is None else builtins.list(job_ids)  # read here: the claim runs in SQLite's thread
        if ids is None and self._committer is not None and (fast := self._fast) is not None:
            return await self._committer.run_raw(
                lambda raw: fast.claim(raw, owner, lease_s=lease_s, limit=limit, now=at, take_over=take_over)
            )
        return await self._write_op(
            lambda conn: sql_leases.claim(
                conn, owner, lease_s=lease_s, limit=limit, job_ids=ids, now=at, take_over=take_over
            )
        )

    @_named_faults
    async def renew(
        self, owner: str, leases: Mapping[str, int], *, lease_s: float, now: dt.datetime | None = None
    ) -> set[str]:
        lease_rules.check_owner(owner)
        lease_rules.check_seconds("lease_s", lease_s)
        if not leases:
            return set()
        at = lease_rules.current_time(now)
        held = dict(leases)  # read here: the renewal runs in SQLite's thread
        return await self._write_op(lambda conn: sql_leases.renew(conn, owner, held, lease_s=lease_s, now=at))

    @_named_faults
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
        return await self._write_op(
            lambda conn: sql_leases.release(
                conn, job_id, fence=fence, delay_s=delay_s, message=message, error=error, now=at
            )
        )

    @_named_faults
    async def release_many(
        self, leases: Mapping[str, int], *, message: str = "", now: dt.datetime | None = None
    ) -> set[str]:
        lease_rules.current_time(now)
        if not leases:
            return set()
        held = dict(leases)  # read here: the release runs in SQLite's thread
        return await self._write_op(lambda conn: sql_leases.release_many(conn, held, message=message))

    # -- look-ups -------------------------------------------------------------------------------------------
    @_named_faults
    async def get_many(self, job_ids: Iterable[str]) -> builtins.list[Job]:
        ids = list(dict.fromkeys(job_ids))
        found: dict[str, Job] = {}
        for start in range(0, len(ids), _IDS_CHUNK):
            chunk = ids[start : start + _IDS_CHUNK]
            found.update((j.id, j) for j in await self._select_jobs(sa.select(jobs).where(jobs.c.id.in_(chunk))))
        return [found[i] for i in ids if i in found]

    @_named_faults
    async def spend(self, *, since: str | None = None) -> SpendSummary:
        async with self.engine.connect() as conn:
            return await sql_ledger.spend(conn, since)

    @_named_faults
    async def events(self, job_id: str) -> builtins.list[JobEvent]:
        query = sa.select(job_events).where(job_events.c.job_id == job_id).order_by(job_events.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [codec.row_to_event(r) for r in rows]

    @_named_faults
    async def counts(self) -> dict[tuple[JobState, str], int]:
        query = sa.select(jobs.c.state, jobs.c.provider, sa.func.count()).group_by(jobs.c.state, jobs.c.provider)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {(JobState(state), str(provider)): int(n) for state, provider, n in rows}

    @_named_faults
    async def find_by_client_key(self, key: str) -> Job | None:
        found = await self._select_jobs(sa.select(jobs).where(jobs.c.client_key == key))
        return found[0] if found else None

    @_named_faults
    async def find_succeeded_by_fingerprint(self, fingerprint: str) -> Job | None:
        query = (
            sa.select(jobs)
            .where(jobs.c.fingerprint == fingerprint, jobs.c.state == JobState.SUCCEEDED.value)
            .order_by(sa.func.coalesce(jobs.c.finished_at, jobs.c.created_at).desc(), jobs.c.id.desc())
            .limit(1)
        )
        found = await self._select_jobs(query)
        return found[0] if found else None

    # -- pacing shared by every worker (veokit.store.rate_slots) ------------------------------------------------
    @_named_faults
    async def take_rate_slot(self, key: str, *, gap_s: float, now: float | None = None) -> RateSlot:
        rate_slots.check(key, gap_s, now)
        async with self._write() as conn:
            return await sql_rate_slots.take(conn, key, gap_s=gap_s, now=now)

    @_named_faults
    async def rate_slot_sent(
        self, key: str, *, seq: int, ago_s: float, count: int, window_s: float, now: float | None = None
    ) -> None:
        rate_slots.check(key, 1.0, now)
        rate_slots.check_sent(seq, ago_s, count, window_s, now)
        async with self._write() as conn:
            await sql_rate_slots.sent(conn, key, seq=seq, ago_s=ago_s, count=count, window_s=window_s, now=now)

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

    # -- the HTTP service's keys and owned videos (veokit.store.tenancy) ----------------------------------------
    async def add_key(self, key: ApiKey) -> ApiKey:
        async with self._write() as conn:
            return await sql_tenancy.add_key(conn, key)

    async def list_keys(self) -> builtins.list[ApiKey]:
        async with self.engine.connect() as conn:
            return await sql_tenancy.list_keys(conn)

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        async with self.engine.connect() as conn:
            return await sql_tenancy.key_by_hash(conn, key_hash)

    async def revoke_key(self, name: str, *, now: dt.datetime | None = None) -> ApiKey:
        async with self._write() as conn:
            return await sql_tenancy.revoke_key(conn, name, lease_rules.current_time(now))

    async def create_owned(
        self,
        job: Job,
        owner: Ownership,
        *,
        limits: KeyLimits | None = None,
        message: str = "created",
        now: dt.datetime | None = None,
    ) -> tuple[Job, bool]:
        job = codec.normalise_job(job)
        day = budget.budget_day(lease_rules.current_time(now))
        async with self._write() as conn:
            await sql_tenancy.lock_key(conn, owner.key_id)
            if owner.idempotency_key is not None:
                found = await sql_tenancy.find_idempotent(conn, owner.key_id, owner.idempotency_key)
                if found is not None:
                    tenancy.check_replay(found[1], owner, found[0])
                    existing = await self._fetch(conn, found[0])
                    assert existing is not None  # api_videos rows go with their job (ON DELETE CASCADE)
                    return existing, False
            if limits is not None and limits.any:
                usage = await sql_tenancy.usage(conn, owner.key_id, day)
                tenancy.admit(owner.key_name, limits, usage, job.estimate_usd)
            await conn.execute(sa.insert(jobs).values(codec.job_to_row(job)))
            await conn.execute(
                sa.insert(job_events).values(codec.event_row(job.id, job.created_at, None, job.state, message))
            )
            await sql_tenancy.insert_owned(conn, job, owner)
            stored = await self._fetch(conn, job.id)
        assert stored is not None
        return stored, True

    async def get_owned(self, key_id: str, job_id: str) -> Job:
        async with self.engine.connect() as conn:
            job = await sql_tenancy.get_owned(conn, key_id, job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} not found")
        return job

    async def list_owned(
        self, key_id: str, *, after: str | None = None, limit: int = 20, ascending: bool = False
    ) -> builtins.list[Job]:
        rules.check_limit(limit)
        async with self.engine.connect() as conn:
            return await sql_tenancy.list_owned(conn, key_id, after=after, limit=limit, ascending=ascending)

    async def delete_owned(self, key_id: str, job_id: str, *, now: dt.datetime | None = None) -> Job:
        async with self._write() as conn:
            job = await sql_tenancy.get_owned(conn, key_id, job_id)
            if job is None or not await sql_tenancy.delete_owned(conn, key_id, job_id, lease_rules.current_time(now)):
                raise JobNotFound(f"job {job_id} not found")
        return job

    async def key_usage(self, key_id: str, *, now: dt.datetime | None = None) -> KeyUsage:
        day = budget.budget_day(lease_rules.current_time(now))
        async with self.engine.connect() as conn:
            return await sql_tenancy.usage(conn, key_id, day)

    async def due_webhooks(
        self, *, lease_s: float, limit: int = 50, now: dt.datetime | None = None
    ) -> builtins.list[WebhookDue]:
        lease_rules.check_seconds("lease_s", lease_s)
        async with self._write() as conn:
            return await sql_tenancy.due_webhooks(conn, lease_rules.current_time(now), lease_s, limit)

    async def webhook_result(
        self, job_id: str, *, delivered: bool, error: str | None = None, retry_at: dt.datetime | None = None
    ) -> None:
        async with self._write() as conn:
            await sql_tenancy.webhook_result(conn, job_id, delivered=delivered, error=error, retry_at=retry_at)

    async def _write_op(self, operation: Callable[[AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        """``operation`` in a write transaction. On SQLite, all its statements in one hand-off to the driver's
        thread (:meth:`GroupCommitter.run`): the worker's state changes are three or four statements each, and
        a hand-off per statement cost more CPU than the statements. ``operation`` must await nothing but
        statements on its connection (SQLite's thread runs it to the end without the event loop)."""
        if self._committer is not None:
            return await self._committer.run(operation)
        async with self._write() as conn:
            return await operation(conn)

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
        row = (await conn.execute(_BY_ID, {"b_id": job_id})).mappings().first()
        return None if row is None else codec.row_to_job(row)

    @staticmethod
    async def _locked_state(conn: AsyncConnection, job_id: str) -> JobState | None:
        # FOR UPDATE on PostgreSQL; SQLite ignores it, and needs none inside BEGIN IMMEDIATE.
        query = sa.select(jobs.c.state).where(jobs.c.id == job_id).with_for_update()
        state = (await conn.execute(query)).scalar_one_or_none()
        return None if state is None else JobState(state)
