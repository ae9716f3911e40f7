"""SQLite for the async store with one thread hand-off per statement.

aiosqlite runs every sqlite3 call in its connection's thread, and SQLAlchemy's adapter makes four of them per
statement (cursor, execute, fetchall, close). Each is a hand-off between the event loop and that thread: a
queue put, a thread wake-up, a future resolved through the loop's self-pipe, and the GIL changing hands twice.
A worker writing thousands of state changes a second spent most of its CPU there, not in SQLite. Here a
statement is one call run in the thread (execute, fetch every row, close), and statements that answer nothing
(``BEGIN DEFERRED``, savepoints) can be :meth:`deferred <Connection.defer>` to run in front of the next
statement, in its hand-off. Used as the engine's DBAPI module (``create_async_engine(..., module=dbapi())``), so
URLs, the dialect and its SQL stay aiosqlite's.

A whole store operation (a writer's several statements: compare-and-set, event, ledger row) can also be one
hand-off: :meth:`Connection.run` executes its coroutine in the connection's thread, where SQLAlchemy's calls into
this module run the statements directly instead of awaiting the thread. The store's operations never await
anything but the database inside a transaction, so such a coroutine completes without suspending; one that
would is refused (see :func:`_drive`).
"""

from __future__ import annotations

import collections
import contextvars
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from threading import Thread
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Answer = tuple[Any, list[Any] | None, int, int | None]
T = TypeVar("T")


async def _ready(answer: T) -> T:
    return answer


def _drive(operation: Coroutine[Any, Any, T]) -> T:
    """Run ``operation`` to its end here and now (in the connection's thread). Every statement it makes runs
    directly, so it has nothing to wait for; if it awaits anything else (a lock, a sleep), it is stopped there,
    its statements are left for the caller's savepoint to undo, and the mistake is named."""
    try:
        operation.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    operation.close()
    raise RuntimeError("a store operation run in the database's thread awaited something other than the database")


def _run(owner: Connection, prefix: tuple[str, ...], sql: str, parameters: Any, many: bool) -> _Answer:
    """In the connection's thread: the deferred statements, then this one, with all its rows."""
    owner.run_deferred(prefix)
    cursor = owner.driver._conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class Cursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose ``execute`` is one call in the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Connection) -> None:  # no driver cursor: one is made per statement
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._answer(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._answer(operation, seq_of_parameters, many=True)

    def _answer(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt = self._adapt_connection
        assert isinstance(adapt, Connection)
        try:
            if threading.get_ident() == adapt.thread_id:  # inside Connection.run: already where SQLite is
                # Handed back through await_ all the same (a coroutine that finishes at once, never reaching
                # an event loop): SQLAlchemy's async API insists that every statement awaited something.
                description, rows, rowcount, lastrowid = await_(
                    _ready(_run(adapt, adapt.take_deferred(), operation, parameters, many))
                )
            else:
                description, rows, rowcount, lastrowid = await_(
                    self._connection._execute(_run, adapt, adapt.take_deferred(), operation, parameters, many)
                )
        except Exception as error:
            adapt._handle_exception(error)
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows) if rows else collections.deque()

    async def _async_soft_close(self) -> None:
        return  # nothing open in the thread: the driver cursor closed with its statement

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        raise NotImplementedError("one statement per execute")


class Connection(AsyncAdapt_aiosqlite_connection):
    """aiosqlite's adapted connection, with one-call cursors and statements deferred to the next one."""

    __slots__ = ("deferred", "deferred_failed", "thread_id")
    _cursor_cls = Cursor  # type: ignore[assignment]  # its constructor takes this class, not the base

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)  # type: ignore[arg-type]  # SQLAlchemy's protocol is looser
        self.deferred: collections.deque[str] = collections.deque()
        # A deferred statement failed (the connection is in an unknown state): its transaction must not commit.
        self.deferred_failed = False
        self.thread_id = connection._thread.ident  # started: it opened the connection

    @property
    def driver(self) -> aiosqlite.Connection:
        return self._connection  # type: ignore[return-value]

    def defer(self, sql: str) -> None:
        """Run ``sql`` in front of the next statement on this connection, in the same hand-off (it must
        answer nothing). Commit and rollback drop what is still deferred: they end whatever it would begin."""
        self.deferred.append(sql)

    def undefer(self, sql: str) -> bool:
        """Take back ``sql`` if it has not run yet; whether it had not."""
        if self.deferred and self.deferred[-1] == sql:
            self.deferred.pop()
            return True
        return False

    def run_deferred(self, statements: tuple[str, ...]) -> None:
        """In the connection's thread: ``statements`` taken from what was deferred, in order. One that fails
        leaves the connection in an unknown state: ``deferred_failed`` is set, so its transaction never commits."""
        try:
            for sql in statements:
                self.driver._conn.execute(sql).close()
        except BaseException:
            self.deferred_failed = True
            raise

    def take_deferred(self) -> tuple[str, ...]:
        """What is deferred, now handed to the statement that runs it (taken on the event loop's side, so a
        writer cancelled mid-statement sees exactly what ran or will run)."""
        taken = tuple(self.deferred)
        self.deferred.clear()
        return taken

    async def run_now(self, *statements: str) -> None:
        """Run the deferred statements and then ``statements``, in one hand-off."""
        todo = (*self.take_deferred(), *statements)

        def run() -> None:
            self.run_deferred(todo)

        await self.driver._execute(run)  # type: ignore[no-untyped-call]

    async def run(self, operation: Coroutine[Any, Any, T]) -> T:
        """Run ``operation`` (store code on this connection's AsyncConnection) in this connection's thread, the
        deferred statements first: all its statements in one hand-off instead of one each. It must await
        nothing but statements on this connection (see :func:`_drive`).

        What is deferred is taken here, on the event loop's side, as for a single statement: a writer cancelled
        while its operation is queued or running sees it as run (its savepoint rolls back behind it: the
        thread runs one thing at a time, in order). The operation runs in its caller's context (context
        variables and all), not the thread's."""
        todo = self.take_deferred()
        context = contextvars.copy_context()

        def run() -> T:
            try:
                self.run_deferred(todo)
            except BaseException:
                operation.close()
                raise
            return context.run(_drive, operation)

        # aiosqlite refuses a closed connection before queueing: the coroutine would never be closed.
        if not self.driver._running or not self.driver._connection:
            operation.close()
            raise ValueError("Connection closed")
        return await self.driver._execute(run)  # type: ignore[no-any-return,no-untyped-call]

    async def run_batch(
        self, operations: list[Callable[[sqlite3.Connection], Any]], savepoint: str, release: str, rollback: str
    ) -> list[tuple[bool, Any]]:
        """Run the deferred statements, then each operation (plain code on the sqlite3 connection) in a savepoint
        of its own, all in one hand-off; each one's outcome, ``(True, value)`` or ``(False, exception)``. One that
        raises has its savepoint rolled back (its changes only). If a savepoint statement itself fails, the
        connection's state is unknown: ``deferred_failed`` is set and the rest are not run."""
        todo = self.take_deferred()

        def run() -> list[tuple[bool, Any]]:
            conn = self.driver._conn
            outcomes: list[tuple[bool, Any]] = []
            try:
                self.run_deferred(todo)
                for operation in operations:
                    conn.execute(savepoint).close()
                    try:
                        value = operation(conn)
                    except Exception as exc:
                        conn.execute(rollback).close()
                        conn.execute(release).close()
                        outcomes.append((False, exc))
                        continue
                    conn.execute(release).close()
                    outcomes.append((True, value))
            except BaseException as exc:
                self.deferred_failed = True
                unknown = RuntimeError(f"a write failed mid-transaction ({type(exc).__name__}: {exc})")
                outcomes.extend((False, unknown) for _ in range(len(operations) - len(outcomes)))
            return outcomes

        if not self.driver._running or not self.driver._connection:
            raise ValueError("Connection closed")
        return await self.driver._execute(run)  # type: ignore[no-any-return,no-untyped-call]

    def cursor(self, server_side: bool = False) -> Any:
        if server_side and self.deferred:  # a driver cursor would run before what is deferred: run it first
            await_(self.run_now())
        return super().cursor(server_side)

    def commit(self) -> None:
        self.deferred.clear()
        super().commit()

    def rollback(self) -> None:
        self.deferred.clear()
        super().rollback()


class DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Connection:
        if kw.pop("async_creator_fn", None) is not None:
            raise TypeError("veokit's SQLite driver makes its own connections")
        connection = self.aiosqlite.connect(*arg, **kw)
        thread: Thread = connection._thread
        thread.daemon = True  # as SQLAlchemy's adapter does: a connection never keeps the process alive
        return Connection(self, await_(connection))


def dbapi() -> DBAPI:
    return DBAPI(aiosqlite, sqlite3)


def deferring(dbapi_connection: Any) -> Connection | None:
    """The connection as this module's, when it is one."""
    return dbapi_connection if isinstance(dbapi_connection, Connection) else None
