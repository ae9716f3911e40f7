"""SQLite's hot path: the statements every job makes, run on the sqlite3 connection itself.

A worker's job is about twenty statements (compare-and-set, event, ledger row, submission, three or four
times over). Run through SQLAlchemy's execution machinery each cost more CPU than SQLite takes to run it: an
execution context, a compiled-cache look-up, a greenlet switch, bind and result processors, a result object.
Here each is compiled once, by SQLAlchemy, from the very statements the store's general path runs (so the SQL
is the same, text and parameters), and executed with sqlite3's own ``execute``; values are converted with the
columns' own processors, except the datetimes, converted by two small functions that write and read exactly
SQLAlchemy's SQLite format (``tests/unit/test_sqlite_fast.py`` holds them to it).

Writes run inside the group commit's transaction and savepoint, in SQLite's thread
(:meth:`veokit.store.group_commit.GroupCommitter.run_raw`): durability, transaction boundaries and the undoing of
one failed writer are the group commit's, unchanged. Reads by id go to a connection of their own, in autocommit
(one statement is one read transaction: it sees the last commit, as a pooled reader does), in one hand-off
instead of a pool checkout, a deferred ``BEGIN``, the read and a ``ROLLBACK``.

PostgreSQL keeps the general path: asyncpg's statements are already prepared, and its round trips, not the
Python around them, are what it costs.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

from veokit.errors import JobNotFound, JobStateError
from veokit.models.job import Job, JobState, Submission, SubmitBegun, utcnow
from veokit.store import budget, codec, rules, schema, sql_ledger, sql_submits, twins
from veokit.store import leases as lease_rules
from veokit.store.budget import LedgerStatus
from veokit.store.schema import job_events, jobs, submissions

S = JobState
T = TypeVar("T")
Processor = Callable[[Any], Any] | None


def bind_time(value: dt.datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite ``DateTime`` stores it through :class:`~veokit.store.schema.UtcDateTime`:
    naive UTC, ``YYYY-MM-DD HH:MM:SS.ffffff`` (fixed width, so text order is time order)."""
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = codec.as_utc(value)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def result_time(value: str | None) -> dt.datetime | None:
    """The stored text back as an aware UTC datetime (SQLAlchemy's parse, then ``UtcDateTime``'s zone)."""
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _bind_processor(kind: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor:
    if isinstance(kind, schema.UtcDateTime):
        return bind_time
    return kind.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(kind: sa.types.TypeEngine[Any], dialect: Dialect) -> Processor:
    if isinstance(kind, schema.UtcDateTime):
        return result_time
    if isinstance(kind, sa.JSON):
        return _json_result  # SQLAlchemy's, without its per-value closure and type check
    return kind.dialect_impl(dialect).result_processor(dialect, None)


def _json_result(value: Any) -> Any:
    # As SQLite's JSON type in SQLAlchemy: text is parsed; NULL, and a number SQLite answered as one, pass.
    return json.loads(value) if isinstance(value, str) else value


class Prepared:
    """One statement compiled once for SQLite: its text, its parameters in order (with each one's conversion, and
    the constants the statement carries), and the conversions of the columns it answers."""

    def __init__(self, statement: sa.ClauseElement, dialect: Dialect, column_keys: list[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        assert isinstance(compiled, SQLCompiler)
        sql = compiled.string
        order = compiled.positiontup
        assert order is not None, "SQLite's paramstyle is positional"
        steps: list[tuple[str, Any, Processor]] = []  # (name or "", constant, processor)
        for name in order:
            bind = compiled.binds[name]
            kind = bind.type
            if bind.expanding:  # a constant IN list (the ledger's statuses): one placeholder per value
                values = list(bind.value or ())
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(values)), 1)
                steps.extend(("", v, _bind_processor(kind, dialect)) for v in values)
                continue
            given = name in (column_keys or ()) or bind.required or bind.value is None
            steps.append((name if given else "", None if given else bind.value, _bind_processor(kind, dialect)))
        if "__[POSTCOMPILE" in sql:
            raise AssertionError(f"unexpanded parameter left in {sql!r}")
        self.sql = sql
        self._steps = steps
        returns = getattr(statement, "exported_columns", ())
        self.names = [c.key for c in returns]
        self.results = [_result_processor(c.type, dialect) for c in returns]

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple((p(values[n] if n else c) if p else (values[n] if n else c)) for n, c, p in self._steps)

    def rows(self, conn: sqlite3.Connection, values: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run it; the rows it answers, each as a dict of converted values."""
        return self.convert(conn.execute(self.sql, self.params(values)).fetchall())

    def convert(self, raw: list[Any]) -> list[dict[str, Any]]:
        """sqlite3's rows of this statement's columns as dicts of converted values."""
        names, results = self.names, self.results
        return [{n: (p(v) if p else v) for n, p, v in zip(names, results, row, strict=True)} for row in raw]

    def run(self, conn: sqlite3.Connection, values: Mapping[str, Any]) -> int:
        """Run it; the rows it changed."""
        cursor = conn.execute(self.sql, self.params(values))
        try:
            return cursor.rowcount
        finally:
            cursor.close()


# The store's own statements (veokit.store.sql and friends), imported so both paths run the same SQL.
_BY_ID = sa.select(jobs).where(jobs.c.id == sa.bindparam("b_id"))
_LEASE_TOKEN = sa.select(jobs.c.lease_token).where(jobs.c.id == sa.bindparam("b_id"))
_STATE = sa.select(jobs.c.state).where(jobs.c.id == sa.bindparam("b_id"))
_EVENT_KEYS = ["job_id", "at", "from_state", "to_state", "message"]
_SUBMISSION = sa.select(*submissions.c).where(
    submissions.c.job_id == sa.bindparam("b_job"), submissions.c.seq == sa.bindparam("b_seq")
)


# sql_leases._claimable, written out: an active state, and a lease that is free (none, or expired), or the one
# taken over.
_CLAIMABLE_STATES = [s.value for s in lease_rules.CLAIMABLE]
_IN_STATES = f"state IN ({', '.join('?' * len(_CLAIMABLE_STATES))})"
_CLAIMABLE = f"{_IN_STATES} AND (lease_expires_at IS NULL OR lease_expires_at <= ?)"
_CLAIMABLE_OR_OWNER = f"{_IN_STATES} AND (lease_expires_at IS NULL OR lease_expires_at <= ? OR lease_owner = ?)"
_PICK = "SELECT id, state, lease_owner FROM jobs"
_TAKE = "UPDATE jobs SET lease_owner = ?, lease_token = lease_token + 1, lease_expires_at = ?, updated_at = ?"
_JOB_COLUMNS = ", ".join(c.name for c in jobs.c)


class Plans:
    """The prepared statements of one engine's dialect (its JSON serializer included)."""

    def __init__(self, dialect: Dialect, cas: sa.Update, fenced_cas: sa.Update) -> None:
        self.dialect = dialect
        self._cas, self._fenced_cas = cas, fenced_cas
        self.by_id = Prepared(_BY_ID, dialect)
        self.lease_token = Prepared(_LEASE_TOKEN, dialect)
        self.state = Prepared(_STATE, dialect)
        self.event = Prepared(sa.insert(job_events), dialect, _EVENT_KEYS)
        self.reserve = Prepared(sql_ledger._RESERVE, dialect)
        self.begin = Prepared(sql_submits._BEGIN, dialect)
        self.record = Prepared(sql_submits._RECORD, dialect)
        self.submission = Prepared(_SUBMISSION, dialect)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one Plans per open store; a handful of column sets each
    def cas(self, keys: tuple[str, ...], fenced: bool) -> Prepared:
        return Prepared(self._fenced_cas if fenced else self._cas, self.dialect, list(keys))

    @functools.lru_cache(maxsize=32)  # noqa: B019 - as above: a handful of kinds of settlement
    def settle(self, when: frozenset[LedgerStatus], all_rows: bool, amount: bool) -> Prepared:
        return Prepared(sql_ledger._settle(when, all_rows, amount), self.dialect)

    # -- claims (veokit.store.sql_leases.claim, the same two statements, written out) --------------------------
    def claim(
        self,
        conn: sqlite3.Connection,
        owner: str,
        *,
        lease_s: float,
        limit: int,
        now: dt.datetime,
        take_over: str | None,
    ) -> list[Job]:
        """:func:`veokit.store.sql_leases.claim` without ``job_ids``: pick the oldest claimable jobs, take those
        still claimable (SQLite's BEGIN IMMEDIATE: nobody claims between the two), record each takeover."""
        if limit == 0:
            return []
        free, free_params = _CLAIMABLE, [*_CLAIMABLE_STATES, bind_time(now)]
        if take_over is not None:
            free, free_params = _CLAIMABLE_OR_OWNER, [*free_params, take_over]
        picked = conn.execute(f"{_PICK} WHERE {free} ORDER BY created_at, id LIMIT ?", (*free_params, limit)).fetchall()
        if not picked:
            return []
        stamp = utcnow()
        ids = [p[0] for p in picked]
        # Only placeholders are formatted in (one per id): every value is a bound parameter.
        each = ", ".join("?" * len(ids))
        take = f"{_TAKE} WHERE id IN ({each}) AND {free} RETURNING {_JOB_COLUMNS}"
        expires = bind_time(lease_rules.until(now, lease_s))
        rows = conn.execute(take, (owner, expires, bind_time(stamp), *ids, *free_params)).fetchall()
        claimed = [codec.row_to_job(r) for r in self.by_id.convert(rows)]
        got = {j.id for j in claimed}
        takeovers = [
            self.event.params(
                codec.event_row(
                    job_id, stamp, JobState(state), JobState(state), lease_rules.takeover_message(previous, owner)
                )
            )
            for job_id, state, previous in picked
            if previous is not None and job_id in got
        ]
        if takeovers:
            conn.executemany(self.event.sql, takeovers)
        claimed.sort(key=lambda j: (j.created_at, j.id))
        return claimed

    # -- reads ----------------------------------------------------------------------------------------------
    def fetch(self, conn: sqlite3.Connection, job_id: str) -> Job | None:
        rows = self.by_id.rows(conn, {"b_id": job_id})
        return codec.row_to_job(rows[0]) if rows else None

    def token(self, conn: sqlite3.Connection, job_id: str) -> int | None:
        rows = self.lease_token.rows(conn, {"b_id": job_id})
        return int(rows[0]["lease_token"]) if rows else None

    # -- writes (in the group commit's transaction; see SqlJobStore for what each one is) ------------------------
    def transition(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        expected: tuple[JobState, ...],
        to: JobState,
        message: str,
        fence: int | None,
        values: dict[str, Any],
        day: str,
    ) -> Job:
        """:meth:`veokit.store.sql.SqlJobStore._transition`, statement for statement."""
        now = utcnow()
        row = codec.fields_to_values(rules.changes(to, values, now))
        if len(expected) == 1:
            src: JobState | None = expected[0]
        else:  # SQLite needs no row lock inside BEGIN IMMEDIATE: the state read is the one compared against
            found_state = self.state.rows(conn, {"b_id": job_id})
            src = JobState(found_state[0]["state"]) if found_state else None
        if src is not None and src in expected:
            params: dict[str, Any] = {"w_fence": fence} if fence is not None else {}
            params.update(row, w_id=job_id, w_state=src.value)
            found = self.cas(tuple(row), fence is not None).rows(conn, params)
            if found:
                updated = codec.row_to_job(found[0])
                if rules.records_event(src, to, message):
                    self.event.run(conn, codec.event_row(job_id, now, src, to, message))
                self.follow(conn, src, updated, day, now)
                return updated
        raise rules.mismatch_error(job_id, self.fetch(conn, job_id), expected, fence)

    def follow(self, conn: sqlite3.Connection, src: JobState, job: Job, day: str, now: dt.datetime) -> None:
        """:func:`veokit.store.sql_ledger.follow`."""
        change = budget.ledger_change(src, job.state)
        if change is None:
            return
        if change == budget.RESERVE:
            self.reserve.run(conn, sql_ledger.reserve_params(job, day, now))
            return
        assert isinstance(change, budget.Settle)
        settle = self.settle(change.when, change.all_rows, change.amount != "keep")
        settle.run(conn, sql_ledger.settle_params(change, job, now))

    def begin_submit(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        fence: int | None,
        message: str,
        values: dict[str, Any],
        day: str,
    ) -> SubmitBegun | None:
        """``begin_submit`` without budget caps: :func:`veokit.store.sql_twins.hold_back`'s checks, then the
        compare-and-set to ``submitting`` and the submission it begins. ``None``, having written nothing, when
        the job may have a twin to wait for: the general path decides that (seeded jobs only)."""
        rows = self.by_id.rows(conn, {"b_id": job_id})
        row = rows[0] if rows else None
        if row is None or row["state"] != S.QUEUED.value or (fence is not None and row["lease_token"] != fence):
            raise rules.mismatch_error(job_id, None if row is None else codec.row_to_job(row), (S.QUEUED,), fence)
        if twins.may_wait(row["fresh"], row["request"]):
            return None
        submitting = self.transition(
            conn, job_id, (S.QUEUED,), S.SUBMITTING, message, fence, {**values, "twin_of": None}, day
        )
        begun = self.begin.rows(
            conn,
            {
                "b_job": submitting.id,
                "b_owner": submitting.lease_owner,
                "b_provider": submitting.provider,
                "b_started": submitting.updated_at,
            },
        )
        return SubmitBegun(submitting, int(begun[0]["seq"]))

    def record_accepted(
        self, conn: sqlite3.Connection, job_id: str, seq: int, operation_name: str, now: dt.datetime
    ) -> Submission:
        """:func:`veokit.store.sql_submits.record`."""
        params = {"b_job": job_id, "b_seq": seq, "b_name": operation_name, "b_at": now}
        rows = self.record.rows(conn, params) or self.submission.rows(conn, params)
        if not rows:
            raise JobNotFound(f"job {job_id} has no submit #{seq}")
        found = sql_submits._row_to_submission(rows[0])
        if found.operation_name != operation_name:
            raise JobStateError(
                f"job {job_id}: submit #{seq} already recorded operation {found.operation_name}, not {operation_name}"
            )
        return found


class Reader:
    """A connection of its own for reads by id (see the module docstring), opened as the engine's are."""

    def __init__(self, connect_args: tuple[Sequence[Any], Mapping[str, Any]], busy_timeout_ms: int) -> None:
        self._args = connect_args
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: aiosqlite.Connection | None = None

    async def open(self) -> None:
        args, kwargs = self._args
        conn = aiosqlite.connect(*args, **{**kwargs, "isolation_level": None})
        conn._thread.daemon = True  # as SQLAlchemy's adapter does: it never keeps the process alive
        self._conn = await conn
        await self._conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")

    async def run(self, read: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            raise RuntimeError("the store's reader is closed")
        conn = self._conn
        return await conn._execute(lambda: read(conn._conn))  # type: ignore[no-any-return,no-untyped-call]

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


def reads_alone(database: str | None, query: Collection[str]) -> bool:
    """Whether a connection of its own sees the same database (not so for an in-memory one)."""
    return bool(database) and database != ":memory:" and "mode=memory" not in str(database) and "mode" not in query
