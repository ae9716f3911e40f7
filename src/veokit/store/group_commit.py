"""Group commit for SQLite: many writers of one process share one transaction, and so one fsync.

SQLite admits one writer at a time and makes each commit durable with an fsync (several milliseconds), so a
worker with a thousand jobs, each writing several state changes, would spend its time queueing for the disk.
Here each writer still runs alone (in order, under a lock) but inside a SAVEPOINT of a transaction shared
with the writers queued behind it; the last one of the group commits for everyone. A writer's changes are
undone alone if it fails (the savepoint rolls back), and no writer returns before the commit that makes its
changes durable: the engine's "record, then act" order (``submitting`` is on disk before the paid call) holds.
If the commit itself fails, every writer of the group gets the error.

Writers that are plain code on the sqlite3 connection (:meth:`GroupCommitter.run_raw`, the store's hot path)
queue up while SQLite's thread is busy and then run as one batch, in one hand-off, each in its own savepoint.

The savepoint costs no round trip of its own: ``SAVEPOINT`` is deferred to ride with the writer's first
statement and ``RELEASE`` with the next writer's (:mod:`veokit.store.sqlite_driver`); a writer that fails
before any statement of its own ran needs no rollback at all. Only a failure after one did costs a trip.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from veokit.store import sqlite_driver

# Bounds how long one process holds SQLite's write lock (other processes wait on busy_timeout meanwhile)
# and how long the first writer of a group waits for its commit.
MAX_GROUP = 64
# Between one group's commit and the next group's BEGIN, the lock is left free this long. SQLite's busy handler
# is not fair: a process that re-takes the lock the instant it commits can starve the others, whose waits end
# only at their next wake-up (every 1-100 ms). Writers arriving meanwhile join the next group.
FAIR_GAP_S = 0.05
# One name serves every writer: they run one at a time, and each releases (or rolls back to) its own.
_SAVEPOINT = "SAVEPOINT veokit_writer"
_RELEASE = "RELEASE veokit_writer"
_ROLLBACK = "ROLLBACK TO veokit_writer"
T = TypeVar("T")


def _answer(future: asyncio.Future[Any], value: Any, done: asyncio.Future[None]) -> None:
    """A raw writer's answer, now that its group's commit is over: the value, or the commit's error."""
    if future.done():  # its caller was cancelled meanwhile
        return
    if done.cancelled():
        future.cancel()
    elif (error := done.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _fail(batch: list[tuple[Any, asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


@dataclass
class _Group:
    conn: AsyncConnection
    driver: sqlite_driver.Connection
    transaction: AsyncTransaction
    done: asyncio.Future[None]
    size: int = 0
    broken: bool = False


@dataclass
class GroupCommitter:
    writer: AsyncEngine
    max_group: int = MAX_GROUP
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _waiting: int = 0
    _group: _Group | None = None
    _flusher: asyncio.Task[None] | None = None
    # One connection for all of this process's writes, outside the pool readers share: a writer never
    # queues behind readers for a connection, and no group pays for a checkout.
    _conn: AsyncConnection | None = None
    _committed_at: float = float("-inf")
    # Raw writers waiting for their batch (run_raw), and the task running the batches.
    _raw: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = field(default_factory=list)
    _raw_runner: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        self._waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._waiting -= 1
            self._flush_soon()  # we may have been the writer expected to commit the open group
            raise
        self._waiting -= 1
        group: _Group | None = None
        succeeded = False
        try:
            group = self._group if self._group is not None else await self._open()
            self._group = group
            driver = group.driver
            driver.defer(_SAVEPOINT)
            try:
                yield group.conn
            except BaseException:
                if driver.deferred_failed:
                    group.broken = True  # a savepoint statement itself failed: what it covers is unknown
                elif not driver.undefer(_SAVEPOINT):  # else nothing of this writer's ran: nothing to undo
                    try:
                        await driver.run_now(_ROLLBACK, _RELEASE)  # this writer's changes only
                    except BaseException:
                        group.broken = True
                        raise
                raise
            if not driver.undefer(_SAVEPOINT):
                driver.defer(_RELEASE)
            succeeded = True
        finally:
            if group is not None:
                group.size += 1
                # Raw writers queued (run_raw) join this group too: their batch commits it.
                if (self._waiting == 0 and not self._raw) or group.size >= self.max_group or group.broken:
                    self._group = None
                    await self._finish(group)
            self._lock.release()
        if succeeded:
            assert group is not None
            await asyncio.shield(group.done)  # durable before the caller acts on what it wrote

    async def run(self, operation: Callable[[AsyncConnection], Coroutine[Any, Any, T]]) -> T:
        """:meth:`write`, with the writer's statements all run in one hand-off to SQLite's thread (see
        :meth:`veokit.store.sqlite_driver.Connection.run`): ``operation`` must await nothing but statements on
        the connection it is given. A state change is three or four statements; one hand-off instead of one
        per statement saves the queue put, the thread wake-up and the loop's wake-up for each of the others."""
        async with self.write() as conn:
            group = self._group
            assert group is not None and group.conn is conn  # held under the lock until write() ends
            return await group.driver.run(operation(conn))
        raise AssertionError("unreachable")  # write() re-raises whatever it catches  # pragma: no cover

    async def run_raw(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """A writer that is plain code on the sqlite3 connection (:mod:`veokit.store.sqlite_fast`), in the group
        commit: its own savepoint in the group's transaction, its changes undone alone if it raises, its answer
        given once the commit made them durable (the commit's error, if that fails).

        Such writers need no event loop while they run, so the ones that queue up meanwhile run together: one
        hand-off to SQLite's thread for all of them (:meth:`veokit.store.sqlite_driver.Connection.run_batch`)
        instead of a lock hand-over, a hand-off and a wake-up each. A writer cancelled before its batch is taken
        writes nothing; once taken, it runs (and commits with its group) whatever its caller does meanwhile,
        like a writer cancelled while it waits for its group's commit."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._raw.append((operation, future))
        if self._raw_runner is None or self._raw_runner.done():
            self._raw_runner = asyncio.get_running_loop().create_task(self._run_raw_batches())
        return await future

    async def _run_raw_batches(self) -> None:
        """Run the queued raw writers, batch after batch, until none is left (a task of its own: no writer's
        cancellation stops it half-way)."""
        try:
            await self._raw_batches()
        except BaseException as exc:  # never leave a writer waiting for an answer that will not come
            _fail(self._raw, exc)
            self._raw.clear()
            raise

    async def _raw_batches(self) -> None:
        while self._raw:
            async with self._lock:
                # At most a group's worth (the bound on how long the write lock is held); done: cancelled, not run.
                taken, self._raw = self._raw[: self.max_group], self._raw[self.max_group :]
                batch = [(op, fut) for op, fut in taken if not fut.done()]
                if not batch:
                    continue
                try:
                    group = self._group if self._group is not None else await self._open()
                except BaseException as exc:
                    _fail(batch, exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                self._group = group
                try:
                    outcomes = await group.driver.run_batch([op for op, _ in batch], _SAVEPOINT, _RELEASE, _ROLLBACK)
                except BaseException as exc:  # the hand-off or a savepoint statement failed: the group is unsound
                    group.broken = True
                    outcomes = [(False, exc)] * len(batch)
                if group.driver.deferred_failed:
                    group.broken = True
                group.size += len(batch)
                for (_, fut), (ok, value) in zip(batch, outcomes, strict=True):
                    if ok:  # answered once durable: when the group commits
                        group.done.add_done_callback(functools.partial(_answer, fut, value))
                    elif not fut.done():
                        fut.set_exception(value)
                if (self._waiting == 0 and not self._raw) or group.size >= self.max_group or group.broken:
                    self._group = None
                    await self._finish(group)

    async def _open(self) -> _Group:
        loop = asyncio.get_running_loop()
        if (gap := self._committed_at + FAIR_GAP_S - loop.time()) > 0:
            await asyncio.sleep(gap)  # another process's turn (see FAIR_GAP_S)
        if self._conn is None:
            self._conn = await self.writer.connect()
        try:
            transaction = await self._conn.begin()  # BEGIN IMMEDIATE (see veokit.store.sqlite)
            driver = (await self._conn.get_raw_connection()).dbapi_connection
        except BaseException:
            await self._drop_connection()
            raise
        if not isinstance(driver, sqlite_driver.Connection):
            raise TypeError(f"group commit needs veokit's SQLite driver, not {type(driver).__name__}")
        driver.deferred_failed = False
        return _Group(self._conn, driver, transaction, asyncio.get_running_loop().create_future())

    async def _drop_connection(self) -> None:
        """After a failure the connection's state is unknown: the next group starts on a fresh one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken; the pool discards it
                await conn.invalidate()

    async def _finish(self, group: _Group) -> None:
        try:
            if group.broken:
                await group.transaction.rollback()
                raise RuntimeError("a write failed mid-transaction; the group's changes were rolled back")
            await group.transaction.commit()
            self._committed_at = asyncio.get_running_loop().time()
            group.done.set_result(None)
        except BaseException as exc:
            if not group.done.done():
                group.done.set_exception(exc)
                group.done.exception()  # retrieved: writers whose own step failed never await it
            await self._drop_connection()
            if isinstance(exc, asyncio.CancelledError):
                raise

    def _flush_soon(self) -> None:
        """Commit a group left open by writers that expected us to follow (we were cancelled instead)."""
        if self._group is None or self._waiting > 0:
            return

        async def flush() -> None:
            async with self._lock:
                group, self._group = self._group, None
                if group is not None:
                    await self._finish(group)

        self._flusher = asyncio.get_running_loop().create_task(flush())  # referenced: not collected mid-run

    async def close(self) -> None:
        """Commit whatever is open (nothing, unless a writer was cancelled at the wrong moment); release the
        connection."""
        if self._raw_runner is not None:
            await asyncio.gather(self._raw_runner, return_exceptions=True)
        async with self._lock:
            group, self._group = self._group, None
            if group is not None:
                await self._finish(group)
            await self._drop_connection()
